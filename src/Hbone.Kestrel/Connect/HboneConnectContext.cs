using System.Net;
using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;
using Hbone.Protocol;
using Hbone.Http2;
using Hbone.Kestrel.Http2;

namespace Hbone.Kestrel;

/// <summary>
/// One HBONE CONNECT that passed the protocol checks: who asked (from the TLS certificate only), for what
/// destination, with which telemetry headers. Answer it once: accept (200) or reject (400/401/503).
/// </summary>
public sealed class HboneConnectContext
{
    // A context lives as long as its tunnel: what the stream or the connection already holds is read from them, not copied.
    private readonly Http2ServerStream _stream;
    private readonly IHbonePeerIdentityFeature _identity;
    private HboneTunnel? _tunnel;
    private TunnelItems? _items;

    internal HboneConnectContext(Http2ServerStream stream, IHbonePeerIdentityFeature identity, HboneAuthority authority)
    {
        _stream = stream;
        _identity = identity;
        Authority = authority;
    }

    /// <summary>Per-tunnel state for handlers and their helpers; lives as long as the CONNECT. A missing key reads as null.</summary>
    public IDictionary<object, object?> Items => _items ??= new TunnelItems();

    /// <summary>The request's regular header fields (no pseudo-fields), as received, in order; names are lowercase.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> RequestHeaders => _stream.Fields;

    /// <summary>The peer's SPIFFE identity, validated from its X.509-SVID. The only input policy may trust.</summary>
    public SpiffeId PeerIdentity => _identity.PeerIdentity!;

    /// <summary>The peer's leaf certificate.</summary>
    public X509Certificate2? PeerCertificate => _identity.PeerCertificate;

    /// <summary>The identity this server presented on the connection.</summary>
    public SpiffeId? LocalIdentity => _identity.LocalIdentity;

    /// <summary>The requested destination (<c>:authority</c>).</summary>
    public HboneAuthority Authority { get; }

    /// <summary>The first valid <c>Forwarded</c> element: the original client's address (telemetry only).</summary>
    /// <remarks>Parsed from <see cref="RequestHeaders"/> on each call, so an open tunnel holds no parsed copy.</remarks>
    public ForwardedElement? Forwarded
    {
        get
        {
            // Each value is parsed alone and only the first valid one counts (never concatenated).
            foreach (var (name, value) in RequestHeaders)
            {
                if (name == HboneHeaders.Forwarded && ForwardedHeader.ParseFirst(value) is { } element)
                {
                    return element;
                }
            }

            return null;
        }
    }

    /// <summary>The original client's address from <c>Forwarded: for=</c>, when it is an IP address.</summary>
    public IPEndPoint? ForwardedFor => Forwarded?.ForEndPoint;

    /// <summary>The first valid <c>baggage</c> header (peer workload labels; telemetry only).</summary>
    /// <remarks>Parsed from <see cref="RequestHeaders"/> on each call, so an open tunnel holds no parsed copy.</remarks>
    public Baggage? Baggage
    {
        get
        {
            foreach (var (name, value) in RequestHeaders)
            {
                if (name == HboneHeaders.Baggage && Protocol.Baggage.TryParse(value, out var baggage))
                {
                    return baggage;
                }
            }

            return null;
        }
    }

    /// <summary>The W3C <c>traceparent</c> the peer sent, tying the tunnel to a trace; null when the first one is not valid.</summary>
    /// <remarks>Parsed from <see cref="RequestHeaders"/> on each call, so an open tunnel holds no parsed copy.</remarks>
    public TraceParent? TraceParent
    {
        get
        {
            // Only the first traceparent counts, valid or not.
            foreach (var (name, value) in RequestHeaders)
            {
                if (name == HboneHeaders.TraceParent)
                {
                    return Protocol.TraceParent.TryParse(value, out var traceParent) ? traceParent : null;
                }
            }

            return null;
        }
    }

    /// <summary>The local address the connection arrived on.</summary>
    public IPEndPoint? LocalEndPoint => _stream.Connection.LocalEndPoint;

    /// <summary>The TCP peer's address.</summary>
    public IPEndPoint? RemoteEndPoint => _stream.Connection.RemoteEndPoint;

    /// <summary>Cancelled when the peer resets the stream, the connection goes away, or <see cref="Abort"/> is called.</summary>
    public CancellationToken Aborted => _stream.Aborted;

    /// <summary>Resets the CONNECT stream with CANCEL (the tunnel, when open, ends abruptly) and cancels <see cref="Aborted"/>.</summary>
    public void Abort() => _stream.Reset(Http2ErrorCode.Cancel);

    /// <summary>The status answered so far (0 before an answer).</summary>
    public int StatusCode { get; private set; }

    /// <summary>Why the CONNECT was refused, when it was.</summary>
    public string? RejectReason { get; private set; }

    /// <summary>The tunnel, once accepted.</summary>
    public HboneTunnel? Tunnel => _tunnel;

    /// <summary>How the tunnel ended, as reported by the handler (see <see cref="SetOutcome"/>).</summary>
    public TunnelOutcome Outcome { get; private set; } = TunnelOutcome.Completed;

    /// <summary>A short description of a tunnel failure, when there was one.</summary>
    public string? OutcomeError { get; private set; }

    /// <summary>Records how the tunnel ended, for the access log.</summary>
    public void SetOutcome(TunnelOutcome outcome, string? error = null)
    {
        Outcome = outcome;
        OutcomeError = error;
    }

    /// <summary>
    /// Answers 200 and opens the tunnel. Call it only after authorization and the upstream connect succeeded:
    /// no payload flows before it.
    /// </summary>
    public async ValueTask<HboneTunnel> AcceptAsync(CancellationToken cancellationToken = default)
    {
        EnsureNotAnswered();
        cancellationToken.ThrowIfCancellationRequested();
        StatusCode = 200;
        await _stream.Connection.SendHeadersAsync(_stream, 200, endStream: false).WaitAsync(cancellationToken).ConfigureAwait(false);
        _tunnel = new HboneTunnel(_stream);
        return _tunnel;
    }

    /// <summary>Refuses the CONNECT with <paramref name="statusCode"/> (400, 401 or 503 in HBONE); no tunnel opens.</summary>
    public ValueTask RejectAsync(int statusCode, string? reason = null)
    {
        if (statusCode is < 400 or > 599)
        {
            throw new ArgumentOutOfRangeException(nameof(statusCode), statusCode, "A rejection is a 4xx or 5xx status.");
        }

        EnsureNotAnswered();
        StatusCode = statusCode;
        RejectReason = reason;
        return ValueTask.CompletedTask;
    }

    /// <summary>Refuses the CONNECT with the status <paramref name="reason"/> maps to.</summary>
    public ValueTask RejectAsync(HboneErrorReason reason, string? detail = null)
    {
        var status = reason.ToStatusCode();
        return RejectAsync(status == 0 ? 503 : status, detail ?? reason.ToString());
    }

    private void EnsureNotAnswered()
    {
        if (StatusCode != 0)
        {
            throw new InvalidOperationException($"The CONNECT was already answered with {StatusCode}.");
        }
    }
}
