using System.Net;
using System.Net.Sockets;
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
    public async ValueTask HandleAsync(HboneConnectContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var authority = context.Authority;
        if (_options.RequireAuthorityMatchesLocalAddress && authority.Address is { } target && context.LocalEndPoint is { } local
            && !Normalize(target).Equals(Normalize(local.Address)))
        {
            await context.RejectAsync(HboneErrorReason.AuthorityIpMismatch, "ip mismatch").ConfigureAwait(false);
            return;
        }

        if (_options.RefusedPorts.Contains(authority.Port))
        {
            await context.RejectAsync(HboneErrorReason.ProxyPortTarget, $"target port {authority.Port} is a proxy port").ConfigureAwait(false);
            return;
        }

        if (_options.Authorize is { } authorize && !await authorize(context).ConfigureAwait(false))
        {
            await context.RejectAsync(HboneErrorReason.Unauthorized, $"{context.PeerIdentity} is not allowed").ConfigureAwait(false);
            return;
        }

        var endPoint = await ResolveAsync(context).ConfigureAwait(false);
        if (endPoint is null)
        {
            await context.RejectAsync(HboneErrorReason.DestinationNotFound, $"cannot resolve {authority.Host}").ConfigureAwait(false);
            return;
        }

        using var upstream = await ConnectAsync(context, endPoint).ConfigureAwait(false);
        if (upstream is null)
        {
            return;
        }

        var tunnel = await context.AcceptAsync(context.Aborted).ConfigureAwait(false);
        var outcome = await tunnel.CopyToAsync(upstream).ConfigureAwait(false);
        context.SetOutcome(outcome, outcome == TunnelOutcome.Completed ? null : outcome.ToString());
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

    private async ValueTask<Socket?> ConnectAsync(HboneConnectContext context, IPEndPoint endPoint)
    {
        var socket = _options.CreateSocket?.Invoke(context, endPoint) ?? new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.NoDelay = true;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.Aborted);
        timeout.CancelAfter(_options.ConnectTimeout);
        try
        {
            await socket.ConnectAsync(endPoint, timeout.Token).ConfigureAwait(false);
            return socket;
        }
        catch (OperationCanceledException) when (!context.Aborted.IsCancellationRequested)
        {
            socket.Dispose();
            await context.RejectAsync(HboneErrorReason.UpstreamConnectTimeout, $"connect to {endPoint} timed out").ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            await context.RejectAsync(HboneErrorReason.UpstreamConnectFailed, $"connect to {endPoint} failed: {ex.SocketErrorCode}").ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            socket.Dispose();
            await context.RejectAsync(StatusCodes.Status503ServiceUnavailable, "the peer went away during the upstream connect").ConfigureAwait(false);
        }

        return null;
    }

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
