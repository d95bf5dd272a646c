namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>
/// <c>node_hbone_client.js</c> (Node's http2, a client we did not write) holding one CONNECT into a pod's 15008 with the
/// lab CA's <c>default/lab</c> SVID: stdin lines go out, echoed lines come back, and it prints <c>goaway=</c> when told to go.
/// </summary>
internal static class NodeHboneClient
{
    /// <summary>Starts the client in <paramref name="from"/>'s namespace, tunnelling to <paramref name="into"/>'s app port, and waits for the 200.</summary>
    public static async Task<NodeProcess> ConnectAsync(MeshLab lab, string caDirectory, LabNode from, LabPod into, TimeSpan deadline)
    {
        var peer = lab.Track(NodeProcess.Start($"node http2 client to {into.Name}", from, "/usr/bin/node",
        [
            Path.Combine(Repo.Root, "tests", "Hbone.Interop.Peers", "node_hbone_client.js"), "--server", $"{into.Ip}:15008",
            "--ca", Path.Combine(caDirectory, "ca.pem"), "--cert", Path.Combine(caDirectory, "lab.pem"),
            "--key", Path.Combine(caDirectory, "lab.key"), "--authority", $"{into.Ip}:{lab.EchoTargetPort}",
        ]));
        await peer.WaitForLineAsync(l => l == "status=200", deadline);
        return peer;
    }

    /// <summary>Sends <paramref name="line"/> through the tunnel and waits for the echo app to send it back (use each text once).</summary>
    public static async Task EchoAsync(NodeProcess peer, string line, TimeSpan deadline)
    {
        await peer.Input.WriteLineAsync(line);
        await peer.WaitForLineAsync(l => l == line, deadline);
    }
}
