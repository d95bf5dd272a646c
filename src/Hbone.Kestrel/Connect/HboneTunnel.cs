using System.IO.Pipelines;
using System.Net.Sockets;
using Hbone.Client;
using Hbone.Http2;
using Hbone.Kestrel.Http2;
using Hbone.Relay;

namespace Hbone.Kestrel;

/// <summary>
/// An accepted HBONE tunnel: the CONNECT stream's DATA in both directions, as pipes or as a duplex stream.
/// Completing <see cref="Output"/> (or <see cref="CompleteWritesAsync"/>) sends END_STREAM, the tunnel's FIN.
/// </summary>
public sealed class HboneTunnel : IDuplexPipe
{
    private readonly Http2ServerStream _stream;
    private HboneTunnelStream? _duplex;
    private long _bytesFromPeer;
    private long _bytesToPeer;
    private TunnelRelay? _relay;

    internal HboneTunnel(Http2ServerStream stream)
    {
        _stream = stream;
    }

    /// <summary>Bytes from the peer (its DATA). Completes when the peer sends END_STREAM; fails when it resets.</summary>
    public PipeReader Input => _stream.Input;

    /// <summary>Bytes to the peer, framed as DATA as its flow-control windows allow.</summary>
    public PipeWriter Output => _stream.Output;

    /// <summary>The tunnel as one duplex stream; disposing it ends the write side.</summary>
    public Stream Stream => _duplex ??= new HboneTunnelStream(this);

    /// <summary>Cancelled when the peer resets the stream or the connection goes away.</summary>
    public CancellationToken Aborted => _stream.Aborted;

    /// <summary>Payload bytes received from the peer through <see cref="Stream"/> or a <c>CopyToAsync</c>; grows while the copy runs.</summary>
    public long BytesFromPeer => Interlocked.Read(ref _bytesFromPeer) + (Volatile.Read(ref _relay)?.BytesAToB ?? 0);

    /// <summary>Payload bytes sent to the peer through <see cref="Stream"/> or a <c>CopyToAsync</c>; grows while the copy runs.</summary>
    public long BytesToPeer => Interlocked.Read(ref _bytesToPeer) + (Volatile.Read(ref _relay)?.BytesBToA ?? 0);

    /// <summary>Sends END_STREAM: the peer sees a half-close and may keep sending.</summary>
    public Task CompleteWritesAsync() => _stream.Output.CompleteAsync().AsTask();

    /// <summary>Resets the stream with an HTTP/2 error code (for example <see cref="Http2ErrorCode.ConnectError"/>).</summary>
    public void Reset(Http2ErrorCode errorCode) => _stream.Reset(errorCode);

    /// <summary>
    /// Copies the tunnel to and from <paramref name="upstream"/> until both sides half-closed, keeping half-close
    /// both ways. An upstream RST resets the stream with CONNECT_ERROR; a peer reset resets the upstream.
    /// </summary>
    public Task<TunnelOutcome> CopyToAsync(Socket upstream, CancellationToken cancellationToken = default)
    {
        var relay = new TunnelRelay(new HboneTunnelEndpoint(this), RelayEndpoint.Create(upstream));

        // The byte counters read the relay's live counts, so metrics grow while the tunnel is open.
        Volatile.Write(ref _relay, relay);
        return relay.RunAsync(cancellationToken);
    }

    /// <summary>
    /// Copies the tunnel to and from another tunnel, one this process opened with <c>HboneClient</c> (what a waypoint
    /// or a gateway does), keeping half-close both ways; a reset on either side resets the other.
    /// </summary>
    public Task<TunnelOutcome> CopyToAsync(HboneStream upstream, CancellationToken cancellationToken = default)
    {
        var relay = new TunnelRelay(new HboneTunnelEndpoint(this), RelayEndpoint.Create(upstream));
        Volatile.Write(ref _relay, relay);
        return relay.RunAsync(cancellationToken);
    }

    internal void AddBytesFromPeer(long count) => Interlocked.Add(ref _bytesFromPeer, count);

    internal void AddBytesToPeer(long count) => Interlocked.Add(ref _bytesToPeer, count);
}
