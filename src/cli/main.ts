// The command-line entry: `cairn <command> …` and the db_<command> bins both land here.
// Each command is a module src/cli/<command>.ts exporting `main(args, io): Promise<number>`
// (the exit code). Modules load lazily so one command's start-up does not pay for the others.

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** stdout is a terminal: show progress. */
  tty: boolean;
  /** stderr is a terminal: the long-running tools draw a live progress line there (src/cli/progress.ts). */
  errTty?: boolean;
}

export const COMMANDS = ['archive', 'checkpoint', 'recover', 'hotbackup', 'dump', 'load', 'verify', 'stat', 'printlog'] as const;
export type CommandName = (typeof COMMANDS)[number];

/**
 * The reader of stdout or stderr went away (EPIPE: `db_dump … | head`, `db_load -n … 2>&1 | head`).
 * The next write throws this, so the tool unwinds through its `finally` blocks — an environment
 * it opened is closed cleanly (no recovery needed next time), a load is abandoned whole — and
 * `runTool` exits 141, as SIGPIPE would have, without the damage of dying mid-write.
 */
export class OutputClosed extends Error {
  constructor() {
    super('output closed');
  }
}

let outputGone = false;
let pipesWatched = false;

function watchPipes(): void {
  if (pipesWatched) return;
  pipesWatched = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      outputGone = true;
    });
  }
}

/** True once a reader of stdout or stderr went away: the tool's exit status is then 141. */
export function outputClosed(): boolean {
  return outputGone;
}

function write(stream: NodeJS.WriteStream, text: string): void {
  if (outputGone) throw new OutputClosed();
  stream.write(text);
}

const defaultIo: CliIo = {
  out: (t) => write(process.stdout, t),
  err: (t) => write(process.stderr, t),
  tty: process.stdout.isTTY === true,
  errTty: process.stderr.isTTY === true,
};

function usage(): string {
  return `usage: cairn <command> [options]   (or db_<command> [options])\n       cairn -V | --version\ncommands: ${COMMANDS.join(', ')}\nrun "cairn <command> --help" for a command's options\n`;
}

let umbrella = false;

/** How the running tool names itself in messages: `cairn stat` when started as `cairn stat`, else `db_stat`. */
export function programName(tool: string): string {
  return umbrella ? `cairn ${tool.replace(/^db_/, '')}` : tool;
}

export async function run(command: string | undefined, args: string[], io: CliIo = defaultIo, options: { umbrella?: boolean } = {}): Promise<number> {
  if (io === defaultIo) watchPipes();
  umbrella = options.umbrella === true;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(usage());
    return command === undefined ? 1 : 0;
  }
  if (command === '-V' || command === '--version') {
    const { VERSION } = await import('../util/version.js');
    io.out(`cairn ${VERSION}\n`);
    return 0;
  }
  const name = command.startsWith('db_') ? command.slice(3) : command;
  if (!(COMMANDS as readonly string[]).includes(name)) {
    io.err(`cairn: unknown command "${command}"\n${usage()}`);
    return 1;
  }
  let mod: { main: (args: string[], io: CliIo) => Promise<number> };
  try {
    mod = (await import(`./${name}.js`)) as typeof mod;
  } catch (e) {
    io.err(`db_${name}: not available in this build (${(e as Error).message})\n`);
    return 1;
  }
  return mod.main(args, io);
}
