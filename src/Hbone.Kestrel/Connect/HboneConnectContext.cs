using System.Net;
using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;
using Hbone.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Hbone.Kestrel;

/// <summary>
/// One HBONE CONNECT that passed the protocol checks: who asked (from the TLS certificate only), for what
/// destination, with which telemetry headers. Answer it once: accept (200) or reject (400/401/503).
/// </summary>
public sealed class HboneConnectContext
{
    private HboneTunnel? _tunnel;

    internal HboneConnectContext(HttpContext httpContext, IHbonePeerIdentityFeature identity, HboneAuthority authority)
    {
        HttpContext = httpContext;
        PeerIdentity = identity.PeerIdentity!;
        PeerCertificate = identity.PeerCertificate;
        LocalIdentity = identity.LocalIdentity;
        Authority = authority;
        var headers = httpContext.Request.Headers;

        // Telemetry headers: each value is parsed alone and only the first valid one is kept (never concatenated).
        Forwarded = FirstForwarded(headers[HboneHeaders.Forwarded]);
        Baggage = FirstBaggage(headers[HboneHeaders.Baggage]);
        var traceparent = headers[HboneHeaders.TraceParent];
        TraceParent = traceparent.Count > 0 && Protocol.TraceParent.TryParse(traceparent[0], out var tp) ? tp : null;
    }

    /// <summary>The underlying ASP.NET Core request.</summary>
    public HttpContext HttpContext { get; }

    /// <summary>The peer's SPIFFE identity, validated from its X.509-SVID. The only input policy may trust.</summary>
    public SpiffeId PeerIdentity { get; }

    /// <summary>The peer's leaf certificate.</summary>
    public X509Certificate2? PeerCertificate { get; }

    /// <summary>The identity this server presented on the connection.</summary>
    public SpiffeId? LocalIdentity { get; }

    /// <summary>The requested destination (<c>:authority</c>).</summary>
    public HboneAuthority Authority { get; }

    /// <summary>The first valid <c>Forwarded</c> element: the original client's address (telemetry only).</summary>
    public ForwardedElement? Forwarded { get; }

    /// <summary>The original client's address from <c>Forwarded: for=</c>, when it is an IP address.</summary>
    public IPEndPoint? ForwardedFor => Forwarded?.ForEndPoint;

    /// <summary>The <c>baggage</c> header (peer workload labels; telemetry only).</summary>
    public Baggage? Baggage { get; }

    /// <summary>The W3C <c>traceparent</c> the peer sent, tying the tunnel to a trace.</summary>
    public TraceParent? TraceParent { get; }

    /// <summary>The local address the connection arrived on.</summary>
    public IPEndPoint? LocalEndPoint => HttpContext.Connection.LocalIpAddress is { } ip ? new IPEndPoint(ip, HttpContext.Connection.LocalPort) : null;

    /// <summary>The TCP peer's address.</summary>
    public IPEndPoint? RemoteEndPoint => HttpContext.Connection.RemoteIpAddress is { } ip ? new IPEndPoint(ip, HttpContext.Connection.RemotePort) : null;

    /// <summary>Cancelled when the peer resets the stream or the connection goes away.</summary>
    public CancellationToken Aborted => HttpContext.RequestAborted;

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
    /// no payload flows before it. Lifts Kestrel's per-request limits that would kill long or idle tunnels.
    /// </summary>
    public async ValueTask<HboneTunnel> AcceptAsync(CancellationToken cancellationToken = default)
    {
        EnsureNotAnswered();
        var features = HttpContext.Features;

        // Kestrel's defaults would cut tunnels: 30 MB body cap, and min data rates that kill idle ones after ~5 s.
        if (features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } maxBody)
        {
            maxBody.MaxRequestBodySize = null;
        }

        if (features.Get<IHttpMinRequestBodyDataRateFeature>() is { } minRequestRate)
        {
            minRequestRate.MinDataRate = null;
        }

        if (features.Get<IHttpMinResponseDataRateFeature>() is { } minResponseRate)
        {
            minResponseRate.MinDataRate = null;
        }

        StatusCode = StatusCodes.Status200OK;
        HttpContext.Response.StatusCode = StatusCodes.Status200OK;
        await HttpContext.Response.StartAsync(cancellationToken).ConfigureAwait(false);
        await HttpContext.Response.BodyWriter.FlushAsync(cancellationToken).ConfigureAwait(false);
        _tunnel = new HboneTunnel(HttpContext);
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
        HttpContext.Response.StatusCode = statusCode;
        return ValueTask.CompletedTask;
    }

    /// <summary>Refuses the CONNECT with the status <paramref name="reason"/> maps to.</summary>
    public ValueTask RejectAsync(HboneErrorReason reason, string? detail = null)
    {
        var status = reason.ToStatusCode();
        return RejectAsync(status == 0 ? StatusCodes.Status503ServiceUnavailable : status, detail ?? reason.ToString());
    }

    private void EnsureNotAnswered()
    {
        if (StatusCode != 0)
        {
            throw new InvalidOperationException($"The CONNECT was already answered with {StatusCode}.");
        }
    }

    private static ForwardedElement? FirstForwarded(Microsoft.Extensions.Primitives.StringValues values)
    {
        foreach (var value in values)
        {
            if (value is not null && ForwardedHeader.ParseFirst(value) is { } element)
            {
                return element;
            }
        }

        return null;
    }

    private static Baggage? FirstBaggage(Microsoft.Extensions.Primitives.StringValues values)
    {
        foreach (var value in values)
        {
            if (value is not null && Baggage.TryParse(value, out var baggage))
            {
                return baggage;
            }
        }

        return null;
    }
}
