// The live coordination channel (issue 3): the owning process serves a local socket in the
// environment home through which utilities ask for a checkpoint, pin log files during a
// backup, and read status. STUB: replaced by the full implementation.

export interface ChannelHost {
  readonly home: string;
}

export interface Channel {
  close(): Promise<void>;
}

/** Starts serving the channel for an open environment. */
export function startChannel(_host: ChannelHost): Channel {
  return { close: async () => {} };
}
