import { must } from '../../../common/must';

/**
 * Pure parsers for what the `vagrant` binary prints. No I/O here, so they are unit-tested directly.
 *
 * `--machine-readable` output is one record per line: `timestamp,target,type,data...`.
 * Inside data, Vagrant writes commas as `%!(VAGRANT_COMMA)`, newlines as a literal `\n` and carriage
 * returns as a literal `\r` (see Vagrant::UI::MachineReadable).
 */

export interface MachineReadableLine {
  /** Unix time in seconds. */
  timestamp: number;
  /** Machine name (`default`), or '' for lines about the whole environment. */
  target: string;
  /** Record type: `metadata`, `state`, `ui`, `error-exit`, `action`, `ssh-config`, ... */
  type: string;
  /** The data fields, unescaped. */
  data: string[];
}

const TIMESTAMP_RE = /^\d{1,15}$/;
const TYPE_RE = /^[A-Za-z][\w-]*$/;

function unescapeField(field: string): string {
  return field.replaceAll('%!(VAGRANT_COMMA)', ',').replaceAll('\\n', '\n').replaceAll('\\r', '\r');
}

/** Parses `--machine-readable` output; lines that are not records (banners, garbage, blanks) are skipped. */
export function parseMachineReadable(stdout: string): MachineReadableLine[] {
  const out: MachineReadableLine[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!line) continue;
    const fields = line.split(',');
    if (fields.length < 3) continue;
    const [ts = '', target = '', type = '', ...data] = fields;
    if (!TIMESTAMP_RE.test(ts) || !TYPE_RE.test(type)) continue;
    out.push({ timestamp: Number(ts), target: unescapeField(target), type, data: data.map(unescapeField) });
  }
  return out;
}

/**
 * The `state` record of a machine (`running`, `shutoff`, `not_created`, ...), or null when the output
 * has none. Prefers `target` (default `default`), else the first state record.
 */
export function machineState(lines: MachineReadableLine[], target = 'default'): string | null {
  const states = lines.filter((l) => l.type === 'state' && l.data.length > 0);
  const own = states.find((l) => l.target === target) ?? states[0];
  return own ? (own.data[0] ?? null) : null;
}

/**
 * Turns command output into text for people (event feed, error details): machine-readable `ui`
 * messages and `error-exit` messages are kept, other records (metadata, state, action...) dropped,
 * and lines that are not records are kept verbatim.
 */
export function humanizeOutput(text: string): string {
  const lines: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const [record] = parseMachineReadable(line);
    if (!record) {
      if (line.trim()) lines.push(line);
      continue;
    }
    if (record.type === 'ui' && record.data.length >= 2) lines.push(record.data.slice(1).join(','));
    else if (record.type === 'error-exit' && record.data.length >= 2) {
      const message = record.data.slice(1).join(',');
      // Vagrant also prints the same text as a `ui,error` record just before; do not repeat it.
      if (lines[lines.length - 1] !== message) lines.push(message);
    }
  }
  return lines.join('\n');
}

export interface SshConfigHost {
  /** The `Host` pattern (`default` for a Vagrant machine). */
  host: string;
  /** Lower-cased option name -> value (first occurrence wins, as in ssh). */
  options: Record<string, string>;
  hostName: string | null;
  port: number | null;
  user: string | null;
}

function unquote(value: string): string {
  const v = value.trim();
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/**
 * Parses `vagrant ssh-config` output (OpenSSH client config syntax: `Key value` or `Key=value`,
 * `#` comments, case-insensitive keys). Options before the first `Host` line are ignored.
 */
export function parseSshConfig(text: string): SshConfigHost[] {
  const hosts: SshConfigHost[] = [];
  let current: SshConfigHost | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const key = must(m[1], 'the option name').toLowerCase();
    const value = unquote(must(m[2], 'the option value'));
    if (key === 'host') {
      current = { host: value, options: {}, hostName: null, port: null, user: null };
      hosts.push(current);
      continue;
    }
    if (!current || key in current.options) continue;
    current.options[key] = value;
    if (key === 'hostname') current.hostName = value || null;
    else if (key === 'user') current.user = value || null;
    else if (key === 'port') {
      const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
      current.port = port >= 1 && port <= 65535 ? port : null;
    }
  }
  return hosts;
}
