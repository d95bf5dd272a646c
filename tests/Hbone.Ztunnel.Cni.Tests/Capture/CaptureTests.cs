using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Hbone.Ztunnel.Cni.Rules;
using Hbone.Ztunnel.Cni.Tests.Rules;
using Hbone.Ztunnel.InPod;

namespace Hbone.Ztunnel.Cni.Tests.Capture;

/// <summary>
/// Real traffic in an enrolled pod namespace: the app's outbound connection lands on the proxy's 15001 listener
/// with its original destination, the proxy's own (marked) sockets and local traffic are left alone.
/// </summary>
public sealed partial class CaptureTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private static readonly IPEndPoint ServiceVip = new(IPAddress.Parse("10.96.0.10"), 80);
    private static readonly IPAddress PodIp = IPAddress.Parse("10.244.0.2");

    [Fact]
    [Trait("case", "INT-01")]
    public async Task INT_01_outbound_tcp_from_the_pod_arrives_on_15001_with_its_original_destination()
    {
        using var pod = await EnrolledPodAsync();
        using var outbound = Listen(pod, new IPEndPoint(IPAddress.Any, 15001));
        using var app = InPod(pod, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));

        await app.ConnectAsync(ServiceVip).WaitAsync(Deadline);
        using var accepted = await outbound.AcceptAsync().WaitAsync(Deadline);
        await app.SendAsync("hello"u8.ToArray(), SocketFlags.None);
        var buffer = new byte[5];
        Assert.Equal(5, await accepted.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(Deadline));

        Assert.Equal(ServiceVip, SocketOptions.GetOriginalDestination(accepted));
        Assert.Equal("hello"u8.ToArray(), buffer);
        Assert.Equal(PodIp, ((IPEndPoint)accepted.RemoteEndPoint!).Address);
        Assert.True(RedirectPackets(pod) >= 1, "the REDIRECT to 15001 counted no packet");
    }

    [Fact]
    [Trait("case", "INT-03")]
    public async Task INT_03_a_socket_with_the_proxy_mark_is_not_captured_again()
    {
        using var pod = await EnrolledPodAsync();
        using var outbound = Listen(pod, new IPEndPoint(IPAddress.Any, 15001));
        using var proxySocket = InPod(pod, () =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            SocketOptions.SetMark(socket, SocketOptions.ProxyMark);
            return socket;
        });

        // Marked traffic leaves by the pod's route (a link where nobody answers): it must not loop into 15001.
        using var connectTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => proxySocket.ConnectAsync(ServiceVip, connectTimeout.Token).AsTask());
        Assert.False(outbound.Poll(0, SelectMode.SelectRead), "the marked connection was redirected to 15001");
        Assert.Equal(0, RedirectPackets(pod));
    }

    [Fact]
    [Trait("case", "INT-11")]
    public async Task INT_11_app_to_app_over_loopback_to_the_pod_address_is_not_redirected()
    {
        using var pod = await EnrolledPodAsync();
        using var outbound = Listen(pod, new IPEndPoint(IPAddress.Any, 15001));
        using var server = Listen(pod, new IPEndPoint(PodIp, 8080));
        using var app = InPod(pod, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));

        await app.ConnectAsync(new IPEndPoint(PodIp, 8080)).WaitAsync(Deadline);
        using var accepted = await server.AcceptAsync().WaitAsync(Deadline);

        Assert.Equal(8080, ((IPEndPoint)accepted.LocalEndPoint!).Port);
        Assert.False(outbound.Poll(0, SelectMode.SelectRead), "local traffic was redirected to 15001");
    }

    /// <summary>A pod namespace: its address on a veth link, a default route, and the in-pod rules applied.</summary>
    private static async Task<TestNetns> EnrolledPodAsync()
    {
        var pod = new TestNetns();
        try
        {
            // Both ends of the pair stay in the pod's namespace: packets out of eth0 find nobody, nothing leaves it.
            pod.Exec("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer");
            pod.Exec("ip", "addr", "add", $"{PodIp}/24", "dev", "eth0");
            pod.Exec("ip", "link", "set", "eth0", "up");
            pod.Exec("ip", "link", "set", "eth0-peer", "up");
            pod.Exec("ip", "route", "add", "default", "dev", "eth0");
            await new InPodInterception(new InterceptionOptions()).ApplyAsync(pod.Path);
            return pod;
        }
        catch
        {
            pod.Dispose();
            throw;
        }
    }

    private static Socket Listen(TestNetns pod, IPEndPoint endPoint) => InPod(pod, () =>
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(endPoint);
        socket.Listen(16);
        return socket;
    });

    private static Socket InPod(TestNetns pod, Func<Socket> create) => NetworkNamespace.Run(pod.Path, create);

    /// <summary>Packets counted by the nat REDIRECT rule to 15001.</summary>
    private static long RedirectPackets(TestNetns pod)
    {
        var listing = pod.Exec("iptables", "-t", "nat", "-L", InPodRuleSet.OutputChain, "-v", "-x", "-n");
        var match = RedirectLine().Match(listing);
        return match.Success ? long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : -1;
    }

    [GeneratedRegex(@"^\s*(\d+)\s+\d+\s+REDIRECT\s+6\s.*redir ports 15001", RegexOptions.Multiline)]
    private static partial Regex RedirectLine();
}
