using System.Diagnostics;
using Hbone.Http2;
using Hbone.Kestrel.Http2;
using Hbone.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hbone.Kestrel;

/// <summary>
/// Handles each CONNECT stream of one listener: the protocol checks in ztunnel's order (identity, method, then
/// authority), then the application's <see cref="IHboneConnectHandler"/>; writes the access-log entry. Streams
/// above a drain's GOAWAY never get here: the connection refuses them (REFUSED_STREAM).
/// </summary>
internal sealed partial class HboneConnectDispatcher
{
    private readonly IServiceProvider _services;
    private readonly HboneServerOptions _options;
    private readonly ILogger _logger;
    private IHboneConnectHandler? _handler;

    public HboneConnectDispatcher(IServiceProvider services, HboneServerOptions options, ILogger logger)
    {
        _services = services;
        _options = options;
        _logger = logger;
        Stopping = services.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? CancellationToken.None;
    }

    /// <summary>Cancelled when the host starts stopping: connections drain from then on.</summary>
    public CancellationToken Stopping { get; }

    // Resolved on first use: the handler may be registered after the listener was configured.
    private IHboneConnectHandler Handler => _handler ??= _services.GetRequiredService<IHboneConnectHandler>();

    // One state machine per tunnel, not two: it stays alive as long as the tunnel, so its size counts per idle tunnel;
    // after an await it reads the stream and the context again rather than keep locals of its own.
    public async Task ProcessAsync(Http2ServerStream stream)
    {
        HboneConnectContext? context = null;
        try
        {
            var rawAuthority = stream.Authority;
            var identity = stream.Connection.PeerIdentity;

            if (identity?.PeerIdentity is null)
            {
                // Only reachable when the TLS handshake did not run ours: fail closed.
                await RefuseAsync(stream, 401, "no validated peer identity").ConfigureAwait(false);
                return;
            }

            if (stream.Method != "CONNECT")
            {
                await RefuseAsync(stream, 400, "method is not CONNECT").ConfigureAwait(false);
                return;
            }

            if (rawAuthority is null)
            {
                await RefuseAsync(stream, 400, "missing :authority").ConfigureAwait(false);
                return;
            }

            if (!HboneAuthority.TryParse(rawAuthority, out var authority, out var authorityError))
            {
                await RefuseAsync(stream, 400, $"invalid :authority ({authorityError})").ConfigureAwait(false);
                return;
            }

            // The tunnel keeps the parsed authority (an IP one holds no text), not the header's text: logs format it again.
            stream.Authority = null;
            context = new HboneConnectContext(stream, identity, authority);
            TunnelOutcome outcome;
            string? error = null;
            try
            {
                await Handler.HandleAsync(context).ConfigureAwait(false);
                if (context.StatusCode == 0)
                {
                    await context.RejectAsync(503, "the handler did not answer").ConfigureAwait(false);
                }

                outcome = context.StatusCode == 200 ? context.Outcome : TunnelOutcome.Refused;
                error = context.RejectReason ?? context.OutcomeError;
            }
            catch (HboneException ex) when (context.StatusCode == 0)
            {
                await context.RejectAsync(ex.Reason, ex.Message).ConfigureAwait(false);
                outcome = TunnelOutcome.Refused;
                error = ex.Message;
            }
            catch (Exception ex) when (context.StatusCode == 0 && ex is not OperationCanceledException)
            {
                Log.HandlerFailed(_logger, context.Authority.ToString(), ex);
                await context.RejectAsync(503, ex.GetType().Name).ConfigureAwait(false);
                outcome = TunnelOutcome.Refused;
                error = ex.GetType().Name;
            }
            catch (Exception ex) when (context.StatusCode == 200)
            {
                // A tunnel that fails after its 200 can only be reset.
                Log.HandlerFailed(_logger, context.Authority.ToString(), ex);
                stream.Reset(Http2ErrorCode.InternalError);
                outcome = TunnelOutcome.Aborted;
                error = ex.GetType().Name;
            }
            catch (OperationCanceledException) when (context.StatusCode == 0)
            {
                // Cancelled before an answer (peer reset, rapid reset, shutdown): nothing to answer any more.
                stream.Reset(Http2ErrorCode.Cancel);
                outcome = TunnelOutcome.Aborted;
                error = "cancelled";
            }

            if (context.StatusCode == 200)
            {
                await FinishTunnelAsync(stream).ConfigureAwait(false);
            }
            else
            {
                await AnswerAsync(stream, context.StatusCode).ConfigureAwait(false);
            }

            var tunnel = context.Tunnel;
            Complete(new HboneTunnelLog(
                context.PeerIdentity, context.Authority.ToString(), context.ForwardedFor, context.RemoteEndPoint, context.StatusCode,
                tunnel?.BytesFromPeer ?? 0, tunnel?.BytesToPeer ?? 0, Stopwatch.GetElapsedTime(stream.Started), outcome, error));
        }
        catch (Exception ex)
        {
            // Nothing may escape onto the thread pool; the stream cannot be answered any more.
            Log.HandlerFailed(_logger, context?.Authority.ToString() ?? stream.Authority ?? "", ex);
            stream.Reset(Http2ErrorCode.InternalError);
        }
        finally
        {
            stream.Connection.OnHandlerCompleted();
        }
    }

    // A handler that returned with its side still open: END_STREAM, as the tunnel is over; unread input is refused.
    private static async Task FinishTunnelAsync(Http2ServerStream stream)
    {
        await stream.Output.CompleteAsync().ConfigureAwait(false);
        if (!stream.RemoteClosed && !stream.IsReset)
        {
            stream.Reset(Http2ErrorCode.NoError);
        }
    }

    // A refusal: HEADERS with END_STREAM; a peer still sending (early data) is told to stop with RST_STREAM NO_ERROR.
    private static async Task AnswerAsync(Http2ServerStream stream, int status)
    {
        await stream.Connection.SendHeadersAsync(stream, status, endStream: true).ConfigureAwait(false);
        if (!stream.RemoteClosed && !stream.IsReset)
        {
            stream.Reset(Http2ErrorCode.NoError);
        }
    }

    private async Task RefuseAsync(Http2ServerStream stream, int status, string reason)
    {
        await AnswerAsync(stream, status).ConfigureAwait(false);
        var identity = stream.Connection.PeerIdentity;
        Complete(new HboneTunnelLog(identity?.PeerIdentity, stream.Authority, null, stream.Connection.RemoteEndPoint, status, 0, 0, Stopwatch.GetElapsedTime(stream.Started), TunnelOutcome.Refused, reason));
    }

    /// <summary>Logs a stream the engine refused itself (no handler ran), for example one opened after the drain's GOAWAY.</summary>
    public void LogRefused(Http2ServerConnection connection, string? authority, string reason) =>
        Complete(new HboneTunnelLog(connection.PeerIdentity?.PeerIdentity, authority, null, connection.RemoteEndPoint, 0, 0, 0, TimeSpan.Zero, TunnelOutcome.Refused, reason));

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
