import type { Command } from 'commander';
import { CliError, EXIT } from '../errors.js';

/** Every command path ('vmctl' for the top: bash has no empty keys) with the words that may follow it: subcommands, then options. */
function words(cmd: Command, path: string[] = ['vmctl'], out = new Map<string, string[]>()): Map<string, string[]> {
  const subs = cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden);
  const options = cmd.options.flatMap((o) => [o.short, o.long].filter((x): x is string => !!x));
  out.set(path.join(' '), [...subs.flatMap((c) => [c.name(), ...c.aliases()]), ...options, ...(path.length > 1 ? [] : ['--help'])]);
  for (const sub of subs) for (const name of [sub.name(), ...sub.aliases()]) words(sub, [...path, name], out);
  return out;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A bash completion script generated from the command tree (so it never goes stale); zsh runs the same
 * script through bashcompinit. The global options (-o, --context) are completed everywhere.
 */
export function bashScript(program: Command): string {
  const table = words(program);
  const globals = program.options.flatMap((o) => [o.short, o.long].filter((x): x is string => !!x));
  const entries = [...table].map(([path, list]) => `  [${quote(path)}]=${quote(list.join(' '))}`).join('\n');
  return `# vmctl completion for bash (vmctl completion bash > /etc/bash_completion.d/vmctl, or source <(vmctl completion bash))
declare -gA _vmctl_words=(
${entries}
)
_vmctl() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path=vmctl w next
  case "$prev" in
    -o|--output) COMPREPLY=( $(compgen -W "table json" -- "$cur") ); return ;;
    --context) COMPREPLY=( $(compgen -W "$(vmctl auth list -o json 2>/dev/null | sed -n 's/.*"name": "\\(.*\\)".*/\\1/p')" -- "$cur") ); return ;;
  esac
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$w" in -*) continue ;; esac
    next="$path $w"
    [[ -n "\${_vmctl_words[$next]+x}" ]] && path="$next"
  done
  COMPREPLY=( $(compgen -W "\${_vmctl_words[$path]} ${globals.join(' ')}" -- "$cur") )
}
complete -F _vmctl vmctl
`;
}

export function zshScript(program: Command): string {
  return `#compdef vmctl
# vmctl completion for zsh (source <(vmctl completion zsh), e.g. in ~/.zshrc): the bash script through bashcompinit.
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashScript(program)}`;
}

export function registerCompletion(program: Command): void {
  program
    .command('completion <shell>')
    .description('print the shell completion script (bash or zsh)')
    .action((shell: string) => {
      if (shell === 'bash') process.stdout.write(bashScript(program));
      else if (shell === 'zsh') process.stdout.write(zshScript(program));
      else throw new CliError(EXIT.usage, `no completion for "${shell}": bash or zsh`);
    });
}
