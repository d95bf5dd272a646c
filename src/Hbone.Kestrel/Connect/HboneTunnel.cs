using System.IO.Pipelines;
using System.Net.Sockets;
using Hbone.Http2;
using Hbone.Relay;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Hbone.Kestrel;

/// <summary>
/// An accepted HBONE tunnel: the CONNECT stream's DATA in both directions, as pipes or as a duplex stream.
/// Completing <see cref="Output"/> (or <see cref="CompleteWritesAsync"/>) sends END_STREAM, the tunnel's FIN.
/// </summary>
public sealed class HboneTunnel : IDuplexPipe
{
    private readonly HttpContext _httpContext;
    private HboneTunnelStream? _stream;
    private long _bytesFromPeer;
    private long _bytesToPeer;
    private TunnelRelay? _relay;

    internal HboneTunnel(HttpContext httpContext)
    {
        _httpContext = httpContext;
    }

    /// <summary>Bytes from the peer (the request body). Completes when the peer sends END_STREAM.</summary>
    public PipeReader Input => _httpContext.Request.BodyReader;

    /// <summary>Bytes to the peer (the response body).</summary>
    public PipeWriter Output => _httpContext.Response.BodyWriter;

    /// <summary>The tunnel as one duplex stream; disposing it ends the write side.</summary>
    public Stream Stream => _stream ??= new HboneTunnelStream(this, _httpContext);

    /// <summary>Cancelled when the peer resets the stream or the connection goes away.</summary>
    public CancellationToken Aborted => _httpContext.RequestAborted;

    /// <summary>Payload bytes received from the peer through <see cref="Stream"/> or <see cref="CopyToAsync"/>; grows while the copy runs.</summary>
    public long BytesFromPeer => Interlocked.Read(ref _bytesFromPeer) + (Volatile.Read(ref _relay)?.BytesAToB ?? 0);

    /// <summary>Payload bytes sent to the peer through <see cref="Stream"/> or <see cref="CopyToAsync"/>; grows while the copy runs.</summary>
    public long BytesToPeer => Interlocked.Read(ref _bytesToPeer) + (Volatile.Read(ref _relay)?.BytesBToA ?? 0);

    /// <summary>Sends END_STREAM: the peer sees a half-close and may keep sending.</summary>
    public Task CompleteWritesAsync() => _httpContext.Response.CompleteAsync();

    /// <summary>Resets the stream with an HTTP/2 error code (for example <see cref="Http2ErrorCode.ConnectError"/>).</summary>
    public void Reset(Http2ErrorCode errorCode)
    {
        if (_httpContext.Features.Get<IHttpResetFeature>() is { } reset)
        {
            reset.Reset((int)errorCode);
        }
        else
        {
            _httpContext.Abort();
        }
    }

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
    /// True when the peer ended its side with a HEADERS frame carrying fields (trailers) instead of DATA END_STREAM.
    /// RFC 9113 §8.5 forbids any frame but DATA and stream management on a CONNECT stream; Kestrel accepts
    /// trailers with END_STREAM as a normal end of the request body, so the tunnel checks for them itself.
    /// </summary>
    internal bool PeerSentTrailers =>
        _httpContext.Features.Get<IHttpRequestTrailersFeature>() is { Available: true } trailers && trailers.Trailers.Count > 0;

    internal void AddBytesFromPeer(long count) => Interlocked.Add(ref _bytesFromPeer, count);

    internal void AddBytesToPeer(long count) => Interlocked.Add(ref _bytesToPeer, count);
}
