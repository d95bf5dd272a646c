using System.Net;
using System.Net.Sockets;
using Hbone.Relay;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Hbone.Kestrel;

/// <summary>
/// The built-in CONNECT handler: checks in ztunnel's order (authority IP, refused ports, authorization),
/// connects to the authority, answers 200 only after the connect succeeded, then copies both ways.
/// </summary>
public sealed class HboneForwarder : IHboneConnectHandler
{
    private readonly HboneForwarderOptions _options;

    /// <summary>Creates a forwarder.</summary>
    public HboneForwarder(IOptions<HboneForwarderOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
    }

    /// <inheritdoc />
    public ValueTask HandleAsync(HboneConnectContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var checks = HboneTargetChecks.CheckAsync(context, _options);
        if (!checks.IsCompletedSuccessfully)
        {
            return HandleSlowAsync(context, checks, authorized: null);
        }

        if (!checks.Result)
        {
            return default;
        }

        // The usual tunnel (an IP authority, checks and authorization answered at once) goes straight to the relay:
        // no state machine of this method stays alive for the tunnel's life.
        var authorized = AuthorizeAsync(context);
        if (authorized.IsCompletedSuccessfully && context.Authority.Address is { } address)
        {
            return authorized.Result ? DialAndRelayAsync(context, new IPEndPoint(address, context.Authority.Port)) : RejectUnauthorizedAsync(context);
        }

        return HandleSlowAsync(context, checks, authorized);
    }

    // One state machine for every slower case; authorization starts only once the checks passed.
    private async ValueTask HandleSlowAsync(HboneConnectContext context, ValueTask<bool> checks, ValueTask<bool>? authorized)
    {
        if (!await checks.ConfigureAwait(false))
        {
            return;
        }

        if (!await (authorized ?? AuthorizeAsync(context)).ConfigureAwait(false))
        {
            await RejectUnauthorizedAsync(context).ConfigureAwait(false);
            return;
        }

        var endPoint = await ResolveAsync(context).ConfigureAwait(false);
        if (endPoint is null)
        {
            await context.RejectAsync(HboneErrorReason.DestinationNotFound, $"cannot resolve {context.Authority.Host}").ConfigureAwait(false);
            return;
        }

        await DialAndRelayAsync(context, endPoint).ConfigureAwait(false);
    }

    private ValueTask<bool> AuthorizeAsync(HboneConnectContext context) =>
        _options.Authorize is { } authorize ? authorize(context) : new ValueTask<bool>(true);

    private static ValueTask RejectUnauthorizedAsync(HboneConnectContext context) =>
        context.RejectAsync(HboneErrorReason.Unauthorized, $"{context.PeerIdentity} is not allowed");

    private ValueTask DialAndRelayAsync(HboneConnectContext context, IPEndPoint endPoint) =>
        ConnectAndRelayAsync(context, _options.CreateSocket?.Invoke(context, endPoint) ?? new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp), endPoint);

    /// <summary>
    /// Connects <paramref name="upstream"/> (which this method owns and disposes) to <paramref name="endPoint"/> within
    /// <see cref="HboneForwarderOptions.ConnectTimeout"/>, answers 200 only once connected (503/504-style rejections
    /// otherwise), then copies both ways until the tunnel ends and records the outcome on <paramref name="context"/>.
    /// </summary>
    public async ValueTask ConnectAndRelayAsync(HboneConnectContext context, Socket upstream, IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(upstream);
        ArgumentNullException.ThrowIfNull(endPoint);
        try
        {
            if (!await ConnectAsync(context, upstream, endPoint).ConfigureAwait(false))
            {
                return;
            }

            var tunnel = await context.AcceptAsync(context.Aborted).ConfigureAwait(false);
            var outcome = await tunnel.CopyToAsync(upstream).ConfigureAwait(false);
            context.SetOutcome(outcome, outcome == TunnelOutcome.Completed ? null : outcome.ToString());
        }
        finally
        {
            // Disposed through the parameter, not a copy: this frame lives as long as the tunnel.
            upstream.Dispose();
        }
    }

    private async ValueTask<IPEndPoint?> ResolveAsync(HboneConnectContext context)
    {
        var authority = context.Authority;
        if (authority.Address is { } address)
        {
            return new IPEndPoint(address, authority.Port);
        }

        try
        {
            var addresses = _options.ResolveHost is { } resolve
                ? await resolve(authority.Host, context.Aborted).ConfigureAwait(false)
                : await Dns.GetHostAddressesAsync(authority.Host, context.Aborted).ConfigureAwait(false);
            return addresses.Length == 0 ? null : new IPEndPoint(addresses[0], authority.Port);
        }
        catch (SocketException)
        {
            return null;
        }
    }

    private async ValueTask<bool> ConnectAsync(HboneConnectContext context, Socket socket, IPEndPoint endPoint)
    {
        socket.NoDelay = true;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.Aborted);
        timeout.CancelAfter(_options.ConnectTimeout);
        try
        {
            // Pooled connect state: the socket's own would stay on it for the tunnel's life.
            await RelaySockets.ConnectAsync(socket, endPoint, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!context.Aborted.IsCancellationRequested)
        {
            await context.RejectAsync(HboneErrorReason.UpstreamConnectTimeout, $"connect to {endPoint} timed out").ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            await context.RejectAsync(HboneErrorReason.UpstreamConnectFailed, $"connect to {endPoint} failed: {ex.SocketErrorCode}").ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await context.RejectAsync(StatusCodes.Status503ServiceUnavailable, "the peer went away during the upstream connect").ConfigureAwait(false);
        }

        return false;
    }

}
