/**
 * Just enough Markdown for the documentation tests: fenced code blocks with their info strings, the
 * anchors GitHub gives headings, and relative links.
 */

export interface FencedBlock {
  /** The info string after the opening fence: `bash`, `bash skip`, `ts`, ... */
  info: string;
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
}

const FENCE = /^( {0,3})(`{3,}|~{3,})(.*)$/;

export function fencedBlocks(markdown: string): FencedBlock[] {
  const blocks: FencedBlock[] = [];
  const lines = markdown.split('\n');
  let open: { fence: string; indent: number; info: string; line: number; code: string[] } | null = null;
  lines.forEach((text, i) => {
    // Fences inside list items are indented: compare without the item's indentation.
    const trimmed = text.replace(/^\s+/, '');
    const indent = text.length - trimmed.length;
    const fence = FENCE.exec(trimmed);
    if (!open) {
      if (fence) open = { fence: fence[2]!, indent, info: fence[3]!.trim(), line: i + 1, code: [] };
    } else if (fence && fence[2]!.startsWith(open.fence) && fence[3]!.trim() === '') {
      blocks.push({ info: open.info, code: open.code.join('\n'), line: open.line });
      open = null;
    } else {
      open.code.push(text.slice(Math.min(open.indent, indent)));
    }
  });
  return blocks;
}

/** The text outside fenced blocks, with inline code spans blanked (links in code are not links). */
export function prose(markdown: string): string {
  const out: string[] = [];
  let fence: string | null = null;
  for (const text of markdown.split('\n')) {
    const match = FENCE.exec(text.replace(/^\s+/, ''));
    if (fence) {
      if (match && match[2]!.startsWith(fence) && match[3]!.trim() === '') fence = null;
      out.push('');
    } else if (match) {
      fence = match[2]!;
      out.push('');
    } else {
      out.push(text.replace(/`[^`]*`/g, (span) => ' '.repeat(span.length)));
    }
  }
  return out.join('\n');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped (not `-` or `_`), spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor of a document: its headings' slugs (repeats get -1, -2, ...) and explicit `id`/`name` attributes. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  const original = markdown.split('\n');
  for (const [i, line] of prose(markdown).split('\n').entries()) {
    // prose() blanks inline code and keeps the lines: read the heading's text from the original line.
    const heading = /^#{1,6}\s/.test(line) ? /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(original[i]!) : null;
    if (heading) {
      const base = slug(heading[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      result.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const [, id] of line.matchAll(/\s(?:id|name)="([^"]+)"/g)) result.add(id!);
  }
  return result;
}

export interface Link {
  target: string;
  line: number;
}

/** Markdown links and images, and HTML `href`/`src` attributes, outside code. */
export function links(markdown: string): Link[] {
  const found: Link[] = [];
  prose(markdown)
    .split('\n')
    .forEach((text, i) => {
      for (const [, target] of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
        found.push({ target: target!, line: i + 1 });
      for (const [, target] of text.matchAll(/\s(?:href|src)="([^"]+)"/g)) found.push({ target: target!, line: i + 1 });
    });
  return found;
}

/** A link that leaves the repository (a URL with a scheme, or protocol-relative). */
export function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');
}
