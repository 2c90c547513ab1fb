/**
 * The part of Go's text/template that docker's --format uses: field paths,
 * json, index, range (with $k, $v), if/else, printf %s/%d/%v, join, upper,
 * lower, println. Enough for every --format in the seeds and Docker's docs.
 */

type Value = unknown;

interface Node {
  kind: 'text' | 'action' | 'range' | 'if';
  text?: string;
  expression?: string;
  body?: Node[];
  elseBody?: Node[];
  keyVar?: string;
  valueVar?: string;
}

function tokenize(template: string): Array<{ text: string } | { action: string }> {
  const tokens: Array<{ text: string } | { action: string }> = [];
  let rest = template;
  while (rest.length > 0) {
    const start = rest.indexOf('{{');
    if (start < 0) {
      tokens.push({ text: rest });
      break;
    }
    if (start > 0) tokens.push({ text: rest.slice(0, start) });
    const end = rest.indexOf('}}', start);
    if (end < 0) throw new Error(`template: unclosed action in "${template}"`);
    let action = rest.slice(start + 2, end);
    let after = rest.slice(end + 2);
    if (action.startsWith('-')) {
      action = action.slice(1);
      const last = tokens[tokens.length - 1];
      if (last && 'text' in last) last.text = last.text.trimEnd();
    }
    if (action.endsWith('-')) {
      action = action.slice(0, -1);
      after = after.trimStart();
    }
    tokens.push({ action: action.trim() });
    rest = after;
  }
  return tokens;
}

function parse(tokens: ReturnType<typeof tokenize>): Node[] {
  let position = 0;
  function parseList(stopWords: string[]): { nodes: Node[]; stoppedAt: string } {
    const nodes: Node[] = [];
    while (position < tokens.length) {
      const token = tokens[position++]!;
      if ('text' in token) {
        nodes.push({ kind: 'text', text: token.text });
        continue;
      }
      const action = token.action;
      const word = action.split(/\s+/)[0] ?? '';
      if (stopWords.includes(word)) return { nodes, stoppedAt: word };
      if (word === 'range') {
        let expression = action.slice(5).trim();
        const binding = /^(\$\w+)\s*(?:,\s*(\$\w+))?\s*:=\s*(.*)$/.exec(expression);
        let keyVar: string | undefined;
        let valueVar: string | undefined;
        if (binding !== null) {
          if (binding[2] !== undefined) {
            keyVar = binding[1];
            valueVar = binding[2];
          } else valueVar = binding[1];
          expression = binding[3]!;
        }
        const body = parseList(['end', 'else']);
        const elseBody = body.stoppedAt === 'else' ? parseList(['end']).nodes : undefined;
        nodes.push({ kind: 'range', expression, body: body.nodes, elseBody, keyVar, valueVar });
      } else if (word === 'if') {
        const body = parseList(['end', 'else']);
        const elseBody = body.stoppedAt === 'else' ? parseList(['end']).nodes : undefined;
        nodes.push({ kind: 'if', expression: action.slice(2).trim(), body: body.nodes, elseBody });
      } else {
        nodes.push({ kind: 'action', expression: action });
      }
    }
    return { nodes, stoppedAt: '' };
  }
  return parseList([]).nodes;
}

function splitArguments(expression: string): string[] {
  const args: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|\(([^()]*)\)|(\S+)/g;
  for (const match of expression.matchAll(pattern)) {
    if (match[1] !== undefined) args.push(JSON.stringify(JSON.parse(`"${match[1]}"`)));
    else if (match[2] !== undefined) args.push(`(${match[2]})`);
    else args.push(match[3]!);
  }
  return args;
}

function formatValue(value: Value): string {
  if (value === undefined || value === null) return '<no value>';
  if (Array.isArray(value)) return `[${value.map(formatValue).join(' ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b));
    return `map[${entries.map(([k, v]) => `${k}:${formatValue(v)}`).join(' ')}]`;
  }
  return String(value);
}

function truthy(value: Value): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

class Scope {
  constructor(
    readonly dot: Value,
    readonly variables: Map<string, Value>,
  ) {}
}

function resolvePath(base: Value, path: string[]): Value {
  let current = base;
  for (const part of path) {
    if (part === '') continue;
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function evaluateArgument(argument: string, scope: Scope): Value {
  if (argument.startsWith('"')) return JSON.parse(argument) as string;
  if (argument.startsWith('(')) return evaluate(argument.slice(1, -1), scope);
  if (/^-?\d+$/.test(argument)) return Number(argument);
  if (argument === '.') return scope.dot;
  if (argument.startsWith('.')) return resolvePath(scope.dot, argument.slice(1).split('.'));
  if (argument.startsWith('$')) {
    const [name, ...path] = argument.split('.');
    const base = name === '$' ? scope.variables.get('$') : scope.variables.get(name!);
    return resolvePath(base, path);
  }
  if (argument === 'true') return true;
  if (argument === 'false') return false;
  throw new Error(`template: unknown value "${argument}"`);
}

function printf(format: string, args: Value[]): string {
  let index = 0;
  return format.replace(/%[sdvq%]/g, (verb) => {
    if (verb === '%%') return '%';
    const value = args[index++];
    return verb === '%q' ? JSON.stringify(formatValue(value)) : formatValue(value);
  });
}

const functions: Record<string, (args: Value[]) => Value> = {
  json: ([value]) => JSON.stringify(value ?? null),
  index: ([collection, ...keys]) => keys.reduce<Value>((current, key) => (current as Record<string, unknown> | undefined)?.[String(key)], collection),
  printf: ([format, ...args]) => printf(String(format), args),
  println: (args) => `${args.map(formatValue).join(' ')}\n`,
  print: (args) => args.map(formatValue).join(''),
  join: ([list, separator]) => (Array.isArray(list) ? list.map(formatValue).join(String(separator)) : formatValue(list)),
  upper: ([value]) => String(value).toUpperCase(),
  lower: ([value]) => String(value).toLowerCase(),
  len: ([value]) => (Array.isArray(value) ? value.length : typeof value === 'object' && value !== null ? Object.keys(value).length : String(value).length),
  eq: ([a, b]) => a === b,
  ne: ([a, b]) => a !== b,
  not: ([value]) => !truthy(value),
};

function evaluate(expression: string, scope: Scope): Value {
  const stages = expression.split(/\s*\|\s*/);
  let piped: Value[] | undefined;
  let result: Value;
  for (const stage of stages) {
    const [head, ...rest] = splitArguments(stage);
    if (head === undefined) return undefined;
    const fn = functions[head];
    const args = rest.map((argument) => evaluateArgument(argument, scope));
    if (piped !== undefined) args.push(...piped);
    result = fn !== undefined ? fn(args) : evaluateArgument(head, scope);
    piped = [result];
  }
  return result;
}

function render(nodes: Node[], scope: Scope): string {
  let output = '';
  for (const node of nodes) {
    if (node.kind === 'text') output += node.text;
    else if (node.kind === 'action') {
      const value = evaluate(node.expression!, scope);
      output += typeof value === 'string' ? value : formatValue(value);
    } else if (node.kind === 'if') {
      output += truthy(evaluate(node.expression!, scope)) ? render(node.body!, scope) : render(node.elseBody ?? [], scope);
    } else {
      const collection = evaluate(node.expression!, scope);
      const entries: Array<[Value, Value]> = Array.isArray(collection)
        ? collection.map((value, index) => [index, value])
        : collection !== null && typeof collection === 'object'
          ? Object.entries(collection as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))
          : [];
      if (entries.length === 0) {
        output += render(node.elseBody ?? [], scope);
        continue;
      }
      for (const [key, value] of entries) {
        const variables = new Map(scope.variables);
        if (node.keyVar !== undefined) variables.set(node.keyVar, key);
        if (node.valueVar !== undefined) variables.set(node.valueVar, value);
        output += render(node.body!, new Scope(value, variables));
      }
    }
  }
  return output;
}

/** Renders a Go template against data, as docker --format does. */
export function renderGoTemplate(template: string, data: Value): string {
  const nodes = parse(tokenize(template));
  return render(nodes, new Scope(data, new Map([['$', data]])));
}
