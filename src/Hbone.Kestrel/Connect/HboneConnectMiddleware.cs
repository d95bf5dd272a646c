using Hbone.Http2;
using System.Diagnostics;
using Hbone.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hbone.Kestrel;

/// <summary>
/// Terminal middleware of an HBONE listener: applies the protocol checks in ztunnel's order (method, then
/// authority), then hands the CONNECT to the application's <see cref="IHboneConnectHandler"/>.
/// </summary>
internal sealed partial class HboneConnectMiddleware
{
    private readonly IHboneConnectHandler _handler;
    private readonly HboneServerOptions _options;
    private readonly ILogger _logger;

    private readonly CancellationToken _stopping;

    public HboneConnectMiddleware(RequestDelegate next, IHboneConnectHandler handler, IOptions<HboneServerOptions> options, ILogger<HboneConnectMiddleware> logger, IHostApplicationLifetime lifetime)
    {
        _ = next;
        _handler = handler;
        _options = options.Value;
        _logger = logger;
        _stopping = lifetime.ApplicationStopping;
    }

    public async Task InvokeAsync(HttpContext httpContext)
    {
        var started = Stopwatch.GetTimestamp();
        var request = httpContext.Request;
        var rawAuthority = request.Host.HasValue ? request.Host.Value : null;
        var identity = httpContext.Features.Get<IHbonePeerIdentityFeature>();

        if (identity?.PeerIdentity is null)
        {
            // Only reachable when the listener was not set up with ListenHbone: fail closed.
            await RefuseAsync(httpContext, StatusCodes.Status401Unauthorized, "no validated peer identity", rawAuthority, started).ConfigureAwait(false);
            return;
        }

        if (_stopping.IsCancellationRequested)
        {
            // Kestrel still accepts streams after its first GOAWAY; a draining HBONE server takes no new tunnels.
            httpContext.Features.Get<IHttpResetFeature>()?.Reset((int)Http2ErrorCode.RefusedStream);
            Complete(new HboneTunnelLog(identity.PeerIdentity, rawAuthority, null, null, 0, 0, 0, Stopwatch.GetElapsedTime(started), TunnelOutcome.Refused, "draining"));
            return;
        }

        if (!HttpMethods.IsConnect(request.Method))
        {
            await RefuseAsync(httpContext, StatusCodes.Status400BadRequest, "method is not CONNECT", rawAuthority, started).ConfigureAwait(false);
            return;
        }

        if (rawAuthority is null)
        {
            await RefuseAsync(httpContext, StatusCodes.Status400BadRequest, "missing :authority", rawAuthority, started).ConfigureAwait(false);
            return;
        }

        if (!HboneAuthority.TryParse(rawAuthority, out var authority, out var authorityError))
        {
            var reason = $"invalid :authority ({authorityError})";
            await RefuseAsync(httpContext, StatusCodes.Status400BadRequest, reason, rawAuthority, started).ConfigureAwait(false);
            return;
        }

        var context = new HboneConnectContext(httpContext, identity, authority);
        TunnelOutcome outcome;
        string? error = null;
        try
        {
            await _handler.HandleAsync(context).ConfigureAwait(false);
            if (context.StatusCode == 0)
            {
                await context.RejectAsync(StatusCodes.Status503ServiceUnavailable, "the handler did not answer").ConfigureAwait(false);
            }

            outcome = context.StatusCode == StatusCodes.Status200OK ? context.Outcome : TunnelOutcome.Refused;
            error = context.RejectReason ?? context.OutcomeError;
        }
        catch (HboneException ex) when (context.StatusCode == 0 && !httpContext.Response.HasStarted)
        {
            await context.RejectAsync(ex.Reason, ex.Message).ConfigureAwait(false);
            outcome = TunnelOutcome.Refused;
            error = ex.Message;
        }
        catch (Exception ex) when (context.StatusCode == 0 && !httpContext.Response.HasStarted && ex is not OperationCanceledException)
        {
            Log.HandlerFailed(_logger, authority.ToString(), ex);
            await context.RejectAsync(StatusCodes.Status503ServiceUnavailable, ex.GetType().Name).ConfigureAwait(false);
            outcome = TunnelOutcome.Refused;
            error = ex.GetType().Name;
        }
        catch (Exception ex) when (context.StatusCode == StatusCodes.Status200OK)
        {
            // A tunnel that fails after its 200 can only be reset.
            Log.HandlerFailed(_logger, authority.ToString(), ex);
            context.Tunnel?.Reset(Http2ErrorCode.InternalError);
            outcome = TunnelOutcome.Aborted;
            error = ex.GetType().Name;
        }

        var tunnel = context.Tunnel;
        Complete(new HboneTunnelLog(
            context.PeerIdentity, rawAuthority, context.ForwardedFor, context.RemoteEndPoint, context.StatusCode,
            tunnel?.BytesFromPeer ?? 0, tunnel?.BytesToPeer ?? 0, Stopwatch.GetElapsedTime(started), outcome, error));
    }

    private Task RefuseAsync(HttpContext httpContext, int status, string reason, string? rawAuthority, long started)
    {
        httpContext.Response.StatusCode = status;
        var identity = httpContext.Features.Get<IHbonePeerIdentityFeature>();
        var remote = httpContext.Connection.RemoteIpAddress is { } ip ? new System.Net.IPEndPoint(ip, httpContext.Connection.RemotePort) : null;
        Complete(new HboneTunnelLog(identity?.PeerIdentity, rawAuthority, null, remote, status, 0, 0, Stopwatch.GetElapsedTime(started), TunnelOutcome.Refused, reason));
        return Task.CompletedTask;
    }

    private void Complete(HboneTunnelLog entry)
    {
        Log.TunnelCompleted(_logger, entry);
        try
        {
            _options.OnTunnelCompleted?.Invoke(entry);
        }
        catch (Exception ex)
        {
            // An access-log sink must not break the server.
            Log.AccessLogFailed(_logger, ex);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(10, LogLevel.Information, "{Entry}", EventName = "TunnelCompleted")]
        public static partial void TunnelCompleted(ILogger logger, HboneTunnelLog entry);

        [LoggerMessage(11, LogLevel.Warning, "HBONE handler failed for {Authority}.", EventName = "HandlerFailed")]
        public static partial void HandlerFailed(ILogger logger, string authority, Exception exception);

        [LoggerMessage(12, LogLevel.Warning, "The HBONE access-log callback failed.", EventName = "AccessLogFailed")]
        public static partial void AccessLogFailed(ILogger logger, Exception exception);
    }
}
