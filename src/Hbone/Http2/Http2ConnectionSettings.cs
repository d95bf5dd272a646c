namespace Hbone.Http2;

/// <summary>Client-side HTTP/2 settings of one connection (defaults from hbone-reference.md §1).</summary>
internal sealed class Http2ConnectionSettings
{
    public int InitialStreamWindowSize { get; init; } = 4 * 1024 * 1024;

    public int InitialConnectionWindowSize { get; init; } = 16 * 1024 * 1024;

    public int MaxFrameSize { get; init; } = 16 * 1024;

    public int MaxHeaderListSize { get; init; } = 16 * 1024;

    public int MaxConcurrentStreams { get; init; } = 100;

    public TimeSpan KeepAlivePingDelay { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan KeepAlivePingTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>The first stream id used; tests start near 2^31-1 to exercise id exhaustion (H2-16).</summary>
    public int FirstStreamId { get; init; } = 1;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Wakes a stream's reader on the read loop's thread after a small read (see <see cref="StreamReaderScheduler"/>).</summary>
    public bool PreferInlineScheduling { get; init; }
}
