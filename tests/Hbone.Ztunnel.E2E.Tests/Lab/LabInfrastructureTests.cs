using System.Net;
using System.Net.Sockets;
using System.Text;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.Lab;

/// <summary>
/// The fixtures the ztunnel tests stand on, checked with programs that exist today: a program in a node's
/// namespace (output captured, reachable from a pod, stopped by SIGTERM) and HTTP to a node's loopback.
/// </summary>
public sealed class LabInfrastructureTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    [Trait("case", "LAB-06")]
    public async Task LAB_06_a_program_in_a_node_namespace_prints_lines_is_reachable_from_a_pod_and_stops_on_sigterm()
    {
        await using var lab = await MeshLab.UpAsync();
        var ca = await DevCa.CreateAsync(Path.Combine(lab.WorkDir, "ca"));
        Assert.True(File.Exists(Path.Combine(ca, "ca.pem")) && File.Exists(Path.Combine(ca, "ca.key")), "hbone certs wrote no ca.pem/ca.key");
        var listen = new IPEndPoint(lab.NodeA.Ip, 15008);
        var serve = lab.Track(NodeProcess.Start(
            "hbone serve node-a",
            lab.NodeA,
            Repo.Program("Hbone.Cli"),
            ["serve", "--listen", listen.ToString(), "--cert", Path.Combine(ca, "lab.pem"), "--key", Path.Combine(ca, "lab.key"), "--ca", Path.Combine(ca, "ca.pem")]));

        var line = await serve.WaitForLineAsync(l => l.Contains("listening on", StringComparison.Ordinal), Deadline);
        using (var fromPod = await PodSockets.ConnectAsync(lab.Client.NetnsPath, listen, Deadline))
        {
            Assert.True(fromPod.Connected);
        }

        var exitCode = await serve.StopAsync(TimeSpan.FromSeconds(15));

        Assert.Contains(listen.ToString(), line, StringComparison.Ordinal);
        Assert.Equal(0, exitCode);
        Assert.True(serve.HasExited);
    }

    [Fact]
    [Trait("case", "LAB-07")]
    public async Task LAB_07_the_http_client_of_a_node_reaches_that_node_loopback_not_the_test_host()
    {
        await using var lab = await MeshLab.UpAsync();
        using var listener = await PodSockets.ListenAsync(lab.NodeB.NetnsPath, new IPEndPoint(IPAddress.Loopback, ZtunnelProcess.ReadinessPort));
        var server = AnswerOnceAsync(listener, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nready");
        using var http = PodSockets.HttpClient(lab.NodeB.NetnsPath, Deadline);

        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{ZtunnelProcess.ReadinessPort}/healthz/ready"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ready", await response.Content.ReadAsStringAsync());
        Assert.StartsWith("GET /healthz/ready HTTP/1.1", await server, StringComparison.Ordinal);
    }

    private static async Task<string> AnswerOnceAsync(Socket listener, string response)
    {
        using var connection = await listener.AcceptAsync().WaitAsync(Deadline);
        var buffer = new byte[4096];
        var request = new StringBuilder();
        while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await connection.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Deadline);
            if (read == 0)
            {
                break;
            }

            request.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        await connection.SendAsync(Encoding.ASCII.GetBytes(response), SocketFlags.None);
        connection.Shutdown(SocketShutdown.Send);
        return request.ToString();
    }
}
