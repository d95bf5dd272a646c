using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Hbone.Client;
using Hbone.Protocol;
using Hbone.Relay;
using Hbone.Ztunnel.InPod;
using Hbone.Ztunnel.Proxy.InboundPlaintext;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Proxy.Outbound;

/// <summary>
/// The source side: a connection captured on a pod's 15001 (or asked for over SOCKS5) is routed by the current
/// config and sent over HBONE, or as plain TCP when the destination is outside the mesh.
/// </summary>
internal sealed class OutboundProxy(ProxyContext context)
{
    /// <summary>Handles a connection accepted on 15001: its destination is the one the app dialed before the REDIRECT.</summary>
    public async Task HandleAsync(PodProxy pod, Socket downstream)
    {
        IPEndPoint target;
        try
        {
            target = SocketOptions.GetOriginalDestination(downstream);
        }
        catch (SocketException)
        {
            // Not redirected (e.g. dialed 15001 directly): there is no destination to send it to.
            await ForwardAsync(pod, downstream, null, "no original destination (SelfCall)").ConfigureAwait(false);
            return;
        }

        await ForwardAsync(pod, downstream, target, null).ConfigureAwait(false);
    }

    /// <summary>Sends <paramref name="downstream"/> to <paramref name="target"/> (or only reports and closes it when <paramref name="refusal"/> is set).</summary>
    public async Task ForwardAsync(PodProxy pod, Socket downstream, IPEndPoint? target, string? refusal)
    {
        var started = Stopwatch.GetTimestamp();
        var source = downstream.RemoteEndPoint as IPEndPoint;
        var report = new ConnectionReport { Inbound = false, Source = source, Destination = target, Live = new LiveBytes() };
        var connection = pod.Connections.Track(null);
        var opened = false;
        try
        {
            refusal ??= CheckLoop(pod, source, target!);
            var workload = refusal is null ? await WaitForWorkloadAsync(pod).ConfigureAwait(false) : null;
            if (refusal is null && workload is null)
            {
                refusal = $"unknown source workload {pod.Uid}: not in the config after {context.Config.WorkloadWaitTimeout.TotalSeconds:0.#} s";
            }

            if (refusal is not null)
            {
                TunnelRelay.Reset(downstream);
                report = report with { Error = refusal };
                return;
            }

            var route = context.Store.Resolve(target!, workload);
            var hbone = route.Kind is RouteKind.Workload or RouteKind.ServiceVip or RouteKind.Waypoint;
            report = report with
            {
                Destination = route.Kind == RouteKind.NoEndpoint ? target : route.Destination,
                SourceWorkload = workload,
                SourceIdentity = context.Store.Current.IdentityOf(workload!),
                DestinationWorkload = route.Workload,
                DestinationIdentity = hbone && route.ExpectedIdentities.Count > 0 ? route.ExpectedIdentities[0] : null,
                DestinationService = route.Service?.Hostname,
                DestinationServiceName = route.Service?.Name,
                DestinationServiceNamespace = route.Service?.Namespace,
                MutualTls = hbone,
            };
            if (route.Kind != RouteKind.NoEndpoint)
            {
                context.Reporter.Opened(report);
                opened = true;
            }

            report = route.Kind switch
            {
                RouteKind.Workload or RouteKind.ServiceVip or RouteKind.Waypoint => await SendHboneAsync(pod, workload!, downstream, route, report, connection).ConfigureAwait(false),
                RouteKind.Passthrough or RouteKind.PlaintextWorkload => await SendPlainAsync(pod, downstream, route.Destination, report, connection).ConfigureAwait(false),
                _ => Refuse(downstream, report, route.Reason ?? "no route"),
            };
        }
        finally
        {
            pod.Connections.Untrack(connection);
            downstream.Dispose();
            context.Reporter.Report(report with
            {
                Duration = Stopwatch.GetElapsedTime(started),
                Error = report.Error ?? connection.AbortReason,
                ResponseFlags = report.ResponseFlags != ResponseFlags.None ? report.ResponseFlags : connection.AbortFlags ?? ResponseFlags.None,
            }, opened);
        }
    }

    private string? CheckLoop(PodProxy pod, IPEndPoint? source, IPEndPoint target)
    {
        if (source is not null && pod.IsOwnConnection(source))
        {
            return $"connection from this proxy came back to it (SelfCall): {source} -> {target}";
        }

        var own = pod.Workload?.WorkloadIps.Contains(target.Address) == true || IPAddress.IsLoopback(target.Address);
        return own && context.ProxyPorts.Contains(target.Port) ? $"destination {target} is this proxy (SelfCall)" : null;
    }

    private async Task<Workload?> WaitForWorkloadAsync(PodProxy pod)
    {
        // A pod can be enrolled before its workload reaches the config (FT-05): wait for it, bounded.
        using var timeout = new CancellationTokenSource(context.Config.WorkloadWaitTimeout);
        while (true)
        {
            var changed = context.ConfigChanged;
            if (pod.Workload is { } workload)
            {
                return workload;
            }

            try
            {
                await changed.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return pod.Workload;
            }
        }
    }

    private async Task<ConnectionReport> SendHboneAsync(PodProxy pod, Workload source, Socket downstream, RouteDecision route, ConnectionReport report, LiveConnection connection)
    {
        HboneStream stream;
        try
        {
            var snapshot = context.Store.Current;
            var sourceCertificate = await context.Identities.GetAsync(snapshot.IdentityOf(source), connection.Aborted).ConfigureAwait(false);
            var request = new HboneRequest
            {
                Destination = route.Destination,
                Authority = route.Authority!.Value,
                ExpectedIdentities = route.ExpectedIdentities,
                Source = sourceCertificate,
                ForwardedFor = downstream.RemoteEndPoint as IPEndPoint,
                ForwardedHost = route.ForwardedHost,
                Baggage = Baggage.ForWorkload(source.ClusterId ?? context.Config.ClusterId, source.Namespace, "deployment", source.WorkloadName ?? source.Name, source.CanonicalName ?? source.Name, source.CanonicalRevision),
                // The pod's own address of the tunnel's family: a dual-stack pod dials [v6]:15008 from its IPv6 address.
                SourceAddress = pod.AddressOf(route.Destination.AddressFamily) ?? pod.Address,
            };
            stream = await context.Client.ConnectAsync(request, connection.Aborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HboneException or Hbone.Istio.IstioException or SocketException or IOException or OperationCanceledException)
        {
            TunnelRelay.Reset(downstream);
            return report with
            {
                Status = (ex as HboneConnectException)?.ResponseStatus,
                Error = ex.Message,
                ResponseFlags = connection.AbortFlags ?? ResponseFlags.ForOutbound(ex),
            };
        }

        await using (stream.ConfigureAwait(false))
        {
            var relay = new TunnelRelay(RelayEndpoint.Create(downstream), RelayEndpoint.Create(stream));
            report.Live?.Attach(() => (relay.BytesAToB, relay.BytesBToA));
            var outcome = await relay.RunAsync(connection.Aborted).ConfigureAwait(false);
            return report with
            {
                Status = 200,
                BytesSent = stream.BytesSent,
                BytesReceived = stream.BytesReceived,
                Error = outcome == TunnelOutcome.Completed ? null : outcome.ToString(),
            };
        }
    }

    private async Task<ConnectionReport> SendPlainAsync(PodProxy pod, Socket downstream, IPEndPoint destination, ConnectionReport report, LiveConnection connection)
    {
        using var upstream = pod.Sockets.Outbound(destination.AddressFamily, destination.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any);
        var port = ((IPEndPoint)upstream.LocalEndPoint!).Port;
        pod.AddOwnPort(port);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.Aborted);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            // Pooled connect state: Socket.ConnectAsync would leave its own on the socket for the connection's life.
            await RelaySockets.ConnectAsync(upstream, destination, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            pod.RemoveOwnPort(port);
            TunnelRelay.Reset(downstream);
            return report with
            {
                Error = $"connect to {destination} failed: {(ex as SocketException)?.SocketErrorCode.ToString() ?? "timed out"}",
                ResponseFlags = connection.AbortFlags ?? ResponseFlags.Connect,
            };
        }

        try
        {
            var relay = new TunnelRelay(RelayEndpoint.Create(downstream), RelayEndpoint.Create(upstream));
            report.Live?.Attach(() => (relay.BytesAToB, relay.BytesBToA));
            var outcome = await relay.RunAsync(connection.Aborted).ConfigureAwait(false);
            return report with { BytesSent = relay.BytesAToB, BytesReceived = relay.BytesBToA, Error = outcome == TunnelOutcome.Completed ? null : "connection reset" };
        }
        finally
        {
            pod.RemoveOwnPort(port);
        }
    }

    private static ConnectionReport Refuse(Socket downstream, ConnectionReport report, string reason)
    {
        TunnelRelay.Reset(downstream);
        return report with { Error = reason };
    }
}
