using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Hbone.Relay;
using Hbone.Ztunnel.Policy;
using Hbone.Ztunnel.Telemetry;

namespace Hbone.Ztunnel.Proxy.InboundPlaintext;

/// <summary>
/// The destination side for clients outside the mesh: plain TCP TPROXY'd to a pod's 15006. There is no peer
/// identity, policy still applies (a denial closes the connection right after accept), and the app sees the client's address.
/// </summary>
internal sealed class InboundPlaintextProxy(ProxyContext context)
{
    public async Task HandleAsync(PodProxy pod, Socket downstream)
    {
        var started = Stopwatch.GetTimestamp();
        var source = downstream.RemoteEndPoint as IPEndPoint;
        var destination = downstream.LocalEndPoint as IPEndPoint;
        var snapshot = context.Store.Current;
        var workload = pod.Workload;
        var service = workload is null ? null : InboundService.Guess(snapshot, workload, destination?.Port);
        var report = new ConnectionReport
        {
            Inbound = true,
            Source = source,
            Destination = destination,
            SourceWorkload = source is null ? null : snapshot.FindWorkload(context.Store.Network, source.Address),
            DestinationWorkload = workload,
            DestinationIdentity = workload is null ? null : snapshot.IdentityOf(workload),
            DestinationService = service?.Hostname,
            DestinationServiceName = service?.Name,
            DestinationServiceNamespace = service?.Namespace,
            Live = new LiveBytes(),
        };
        LiveConnection? connection = null;
        var opened = false;
        try
        {
            var refusal = Check(pod, source, destination, snapshot, out var policy);
            if (refusal is not null)
            {
                TunnelRelay.Reset(downstream);
                report = report with { Error = refusal };
                return;
            }

            // Counted opened before the policy decides, as ztunnel does: a denial is then closed and failed with DENY.
            context.Reporter.Opened(report);
            opened = true;
            var attributes = new ConnectionAttributes(null, source!.Address, destination!.Address, destination.Port, policy!.Policies.Workload);
            var decision = policy.Authorize(attributes);
            if (!decision.Allowed)
            {
                TunnelRelay.Reset(downstream);
                report = report with
                {
                    Error = $"denied by policy: {decision.Reason}{(decision.Policy is null ? "" : $" ({decision.Policy})")}",
                    ResponseFlags = ResponseFlags.Deny,
                };
                return;
            }

            connection = pod.Connections.Track(attributes);
            using var upstream = pod.Sockets.Spoofed(source!.Address);
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.Aborted);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                // Pooled connect state: Socket.ConnectAsync would leave its own on the socket for the connection's life.
                await RelaySockets.ConnectAsync(upstream, destination!, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                TunnelRelay.Reset(downstream);
                report = report with
                {
                    Error = $"connect to {destination} failed: {(ex as SocketException)?.SocketErrorCode.ToString() ?? "timed out"}",
                    ResponseFlags = connection.AbortFlags ?? ResponseFlags.Connect,
                };
                return;
            }

            var relay = new TunnelRelay(RelayEndpoint.Create(downstream), RelayEndpoint.Create(upstream));
            report.Live!.Attach(() => (relay.BytesAToB, relay.BytesBToA));
            var outcome = await relay.RunAsync(connection.Aborted).ConfigureAwait(false);
            report = report with { BytesReceived = relay.BytesBToA, BytesSent = relay.BytesAToB, Error = outcome == TunnelOutcome.Completed ? null : "connection reset" };
        }
        finally
        {
            if (connection is not null)
            {
                pod.Connections.Untrack(connection);
            }

            downstream.Dispose();
            context.Reporter.Report(report with
            {
                Duration = Stopwatch.GetElapsedTime(started),
                Error = report.Error ?? connection?.AbortReason,
                ResponseFlags = report.ResponseFlags != ResponseFlags.None ? report.ResponseFlags : connection?.AbortFlags ?? ResponseFlags.None,
            }, opened);
        }
    }

    /// <summary>The checks before authorization (ztunnel reports their failures in the access log only); null when they pass.</summary>
    private string? Check(PodProxy pod, IPEndPoint? source, IPEndPoint? destination, State.WorkloadSnapshot snapshot, out PolicyEngine? policy)
    {
        policy = null;
        if (source is null || destination is null)
        {
            return "no addresses on the accepted connection";
        }

        if (context.ProxyPorts.Contains(destination.Port))
        {
            return $"destination {destination} is this proxy (SelfCall)";
        }

        policy = pod.Policy.For(snapshot);
        return policy is null ? $"the pod {pod.Uid} is not in the config" : null;
    }
}
