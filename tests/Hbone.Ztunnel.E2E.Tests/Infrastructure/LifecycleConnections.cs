using System.Net;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>The sockets a pod's namespace holds, for the drain tests: which proxy listeners are up, which connections are open.</summary>
internal static partial class Lifecycle
{
    /// <summary>A listener of the pod's proxy: 15001, 15006, 15008 (any address) or the SOCKS5 port on 127.0.0.1.</summary>
    public static bool IsProxyListener(string local) =>
        local.EndsWith(":15001", StringComparison.Ordinal) || local.EndsWith(":15006", StringComparison.Ordinal)
        || local.EndsWith(":15008", StringComparison.Ordinal) || local == "127.0.0.1:15080";

    /// <summary>The established TCP connections (<c>ss -Htn state established</c>) inside a namespace, as (local, peer).</summary>
    public static async Task<IReadOnlyList<(IPEndPoint Local, IPEndPoint Peer)>> EstablishedAsync(string netns)
    {
        // With a state filter ss prints no State column: Recv-Q, Send-Q, local, peer. Scoped link-local lines do not parse and are left out.
        var table = await MeshLab.ExecAsync(netns, ["ss", "-Htn", "state", "established"]);
        var connections = new List<(IPEndPoint, IPEndPoint)>();
        foreach (var columns in table.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries)))
        {
            if (columns.Length >= 4 && IPEndPoint.TryParse(columns[2], out var local) && IPEndPoint.TryParse(columns[3], out var peer))
            {
                connections.Add((local, peer));
            }
        }

        return connections;
    }

    /// <summary>How many HBONE connections from <paramref name="client"/> the pod <paramref name="server"/> holds open on its 15008.</summary>
    public static async Task<int> HboneConnectionsAsync(LabPod server, LabPod client) =>
        (await EstablishedAsync(server.Netns)).Count(c => c.Local.Port == 15008 && Unmapped(c.Peer.Address).Equals(client.Ip));

    private static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
