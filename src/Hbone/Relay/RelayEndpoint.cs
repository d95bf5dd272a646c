using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Hbone.Client;

namespace Hbone.Relay;

/// <summary>
/// One side of a <see cref="TunnelRelay"/>: a TCP socket (<see cref="Create(Socket)"/>), a client tunnel
/// (<see cref="Create(HboneStream)"/>) or a duplex pipe such as a server tunnel (derive from <see cref="DuplexPipeEndpoint"/>).
/// </summary>
public abstract class RelayEndpoint
{
    // The relay's contract is internal so the set of copy strategies stays closed; extension goes through DuplexPipeEndpoint.
    private protected RelayEndpoint()
    {
    }

    /// <summary>
    /// A TCP socket: FIN is a half-close, a failure of the relay closes it with a TCP RST. The relay owns the socket
    /// while it runs and switches it to non-blocking mode (<see cref="Socket.Blocking"/> false).
    /// </summary>
    public static RelayEndpoint Create(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        return new SocketEndpoint(socket);
    }

    /// <summary>A client tunnel: END_STREAM is a half-close; a TCP reset on the other side resets it with CONNECT_ERROR.</summary>
    public static RelayEndpoint Create(HboneStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return new HboneStreamEndpoint(stream);
    }

    /// <summary>Received data as a pipe, read without a copy; null for endpoints read with <see cref="ReceiveAsync"/>.</summary>
    internal abstract PipeReader? Reader { get; }

    /// <summary>A pipe that data can be received straight into; null for endpoints written with <see cref="SendAsync(ReadOnlyMemory{byte}, CancellationToken)"/>.</summary>
    internal abstract PipeWriter? Writer { get; }

    /// <summary>What a failure of this endpoint itself means for the tunnel.</summary>
    internal abstract TunnelOutcome ResetOutcome { get; }

    /// <summary>Cancelled when the far side of this endpoint reset it; default when it has no such signal.</summary>
    internal virtual CancellationToken PeerAborted => default;

    /// <summary>True for TCP sockets, which are failed after the tunnels so a stream reset goes out first.</summary>
    internal virtual bool IsSocket => false;

    /// <summary>Completes when data (or EOF) is ready, without holding a buffer; the result means nothing.</summary>
    internal virtual ValueTask<int> WaitForDataAsync(CancellationToken cancellationToken) => default;

    /// <summary>Receives into <paramref name="buffer"/>; 0 is EOF.</summary>
    internal virtual ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken) => throw new NotSupportedException();

    /// <summary>Sends one buffer; false when the endpoint no longer accepts data.</summary>
    internal abstract ValueTask<bool> SendAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Sends a pipe's buffer, ideally in one gather write; false when the endpoint no longer accepts data.</summary>
    internal abstract ValueTask<bool> SendAsync(ReadOnlySequence<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Commits <paramref name="count"/> bytes received into <see cref="Writer"/>'s memory; false when the endpoint is closed.</summary>
    internal virtual ValueTask<bool> CommitAsync(int count, CancellationToken cancellationToken) => throw new NotSupportedException();

    /// <summary>Half-closes the write side (FIN or END_STREAM).</summary>
    internal abstract ValueTask CompleteWritesAsync(CancellationToken cancellationToken);

    /// <summary>The outcome an exception thrown by this endpoint stands for; null when the relay decides (cancellation).</summary>
    internal abstract TunnelOutcome? Classify(Exception exception);

    /// <summary>Tears the endpoint down after the relay failed with <paramref name="outcome"/>.</summary>
    internal abstract void Fail(TunnelOutcome outcome);
}
