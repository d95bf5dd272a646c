using System.Buffers;

namespace Hbone.Kestrel.Transport;

/// <summary>Options of <see cref="AcceptedSocketConnectionFactory"/>.</summary>
public sealed class AcceptedSocketConnectionOptions
{
    /// <summary>
    /// Where received bytes and the TLS layer's buffers come from. Null (the default) gives the connections a pool of
    /// 32 KiB blocks, as the HBONE server's own listeners use: one receive system call per 32 KiB, not per 4 KiB.
    /// </summary>
    public MemoryPool<byte>? MemoryPool { get; set; }

    /// <summary>
    /// Runs the pipes' continuations (TLS, frame parsing) on the thread that completed the socket operation instead of
    /// the thread pool. Only safe when nothing downstream blocks; pairs with inline socket completions.
    /// </summary>
    public bool UnsafePreferInlineScheduling { get; set; }

    /// <summary>Received bytes buffered for the application before receiving pauses (1 MiB, as Kestrel's socket transport).</summary>
    public long MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>Bytes the application may queue for sending before its writes wait (64 KiB, as Kestrel's socket transport).</summary>
    public long MaxWriteBufferSize { get; set; } = 64 * 1024;
}
