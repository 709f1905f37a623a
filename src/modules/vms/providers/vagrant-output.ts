import type { VmStats } from './vm-provider.interface';
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

/**
 * The guest-side command behind `stats`: POSIX sh plus awk, reading /proc (two /proc/stat samples one
 * second apart for CPU, MemTotal - MemAvailable for memory, /proc/loadavg) and `df -Pk /` for disk.
 * Prints one line: `cpu_percent=12.3 memory_used_mb=512 disk_used_gb=3.21 load_1m=0.08`.
 */
export const STATS_COMMAND =
  "a=$(head -n1 /proc/stat); sleep 1; k=$(df -Pk / | awk 'NR==2{print $3}'); " +
  'awk -v a="$a" -v k="${k:-0}" \'' +
  'FILENAME=="/proc/stat"&&/^cpu /{n=split(a,x," ");for(j=2;j<=9&&j<=n&&j<=NF;j++)t+=$j-x[j];i=$5+$6-x[5]-x[6]} ' +
  '/^MemTotal:/{mt=$2} /^MemAvailable:/{ma=$2} FILENAME=="/proc/loadavg"{l=$1} ' +
  'END{printf "cpu_percent=%.1f memory_used_mb=%d disk_used_gb=%.2f load_1m=%.2f\\n",(t>0?100*(t-i)/t:0),(mt-ma)/1024,k/1048576,l}' +
  "' /proc/stat /proc/meminfo /proc/loadavg";

const STATS_KEYS: readonly (keyof VmStats)[] = ['cpu_percent', 'memory_used_mb', 'disk_used_gb', 'load_1m'];

/**
 * Finds the last line with all four `key=value` pairs (login banners and the like around it are
 * ignored) and returns the numbers, or null when there is no such line or a value is not a
 * non-negative number.
 */
export function parseStatsLine(text: string): VmStats | null {
  const lines = text.split('\n').reverse();
  for (const line of lines) {
    const pairs = new Map<string, string>();
    for (const m of line.matchAll(/([a-z_0-9]+)=(\S*)/g)) pairs.set(must(m[1], 'a key'), must(m[2], 'a value'));
    if (!STATS_KEYS.every((k) => pairs.has(k))) continue;
    const out = {} as VmStats;
    for (const key of STATS_KEYS) {
      const raw = pairs.get(key) as string;
      const value = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isFinite(value)) return null;
      out[key] = value;
    }
    out.cpu_percent = Math.min(100, out.cpu_percent);
    return out;
  }
  return null;
}
