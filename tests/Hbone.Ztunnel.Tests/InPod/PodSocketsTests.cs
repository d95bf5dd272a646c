using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Hbone.Ztunnel.InPod;

namespace Hbone.Ztunnel.Tests.InPod;

/// <summary><see cref="PodSockets"/>: the socket options a node proxy puts on the sockets it opens in a pod.</summary>
public sealed class PodSocketsTests
{
    private const int SolIp = 0;
    private const int SolSocket = 1;
    private const int SoMark = 36;
    private const int IpFreebind = 15;
    private const int IpTransparent = 19;
    private const int SolIpv6 = 41;
    private const int Ipv6Only = 26;
    private const int Ipv6Transparent = 75;
    private const int Ipv6Freebind = 78;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    [Trait("case", "INT-03")]
    public void Outbound_sockets_carry_the_configured_mark()
    {
        using var netns = new TestNetns();
        using var handle = File.OpenHandle(netns.Path);
        using var executor = new NetnsExecutor(handle, netns.Name);
        var sockets = new PodSockets(executor, SocketOptions.ProxyMark);

        using Socket unbound = sockets.Outbound(AddressFamily.InterNetwork, null);
        using Socket bound = sockets.Outbound(AddressFamily.InterNetwork, IPAddress.Loopback);

        Assert.Equal(0x539, ReadInt(unbound, SolSocket, SoMark));
        Assert.Equal(0x539, ReadInt(bound, SolSocket, SoMark));
        Assert.True(unbound.NoDelay);
        Assert.Equal(IPAddress.Loopback, ((IPEndPoint)bound.LocalEndPoint!).Address);
    }

    [Fact]
    [Trait("case", "INT-12")]
    public void Transparent_listener_has_IP_TRANSPARENT_and_the_mark_and_a_plain_one_has_neither_option()
    {
        using var netns = new TestNetns();
        using var handle = File.OpenHandle(netns.Path);
        using var executor = new NetnsExecutor(handle, netns.Name);
        var sockets = new PodSockets(executor, 0x539);

        using Socket transparent = sockets.Listen(new IPEndPoint(IPAddress.Any, 0), transparent: true);
        using Socket plain = sockets.Listen(new IPEndPoint(IPAddress.Loopback, 0), transparent: false);

        Assert.Equal(1, ReadInt(transparent, SolIp, IpTransparent));
        Assert.Equal(0x539, ReadInt(transparent, SolSocket, SoMark));
        Assert.Equal(0, ReadInt(plain, SolIp, IpTransparent));
        Assert.Equal(0x539, ReadInt(plain, SolSocket, SoMark));
    }

    [Fact]
    [Trait("case", "INT-12")]
    public void Spoofed_socket_binds_to_a_non_local_client_address()
    {
        using var netns = new TestNetns();
        using var handle = File.OpenHandle(netns.Path);
        using var executor = new NetnsExecutor(handle, netns.Name);
        var sockets = new PodSockets(executor, 0x539);
        var client = IPAddress.Parse("10.77.0.5");

        // Without the options the kernel refuses the address: it is on no interface of the pod.
        var refused = Assert.Throws<SocketException>(() => executor.Invoke(() =>
        {
            using var plain = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            plain.Bind(new IPEndPoint(client, 0));
            return 0;
        }));
        Assert.Equal(SocketError.AddressNotAvailable, refused.SocketErrorCode);

        using Socket spoofed = sockets.Spoofed(client);

        var local = (IPEndPoint)spoofed.LocalEndPoint!;
        Assert.Equal(client, local.Address);
        Assert.NotEqual(0, local.Port);
        Assert.Equal(1, ReadInt(spoofed, SolIp, IpTransparent));
        Assert.Equal(1, ReadInt(spoofed, SolIp, IpFreebind));
        Assert.Equal(0x539, ReadInt(spoofed, SolSocket, SoMark));
        Assert.True(spoofed.NoDelay);
    }

    [Fact]
    [Trait("case", "ZT-UNIT-12")]
    public async Task Listener_created_in_the_pod_accepts_from_a_pod_outbound_socket()
    {
        using var netns = new TestNetns();
        using var handle = File.OpenHandle(netns.Path);
        using var executor = new NetnsExecutor(handle, netns.Name);
        var sockets = new PodSockets(executor, SocketOptions.ProxyMark);
        using Socket listener = sockets.Listen(new IPEndPoint(IPAddress.Loopback, 0), transparent: false);
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;

        using (var fromHost = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            var refused = await Assert.ThrowsAsync<SocketException>(() => fromHost.ConnectAsync(endPoint).WaitAsync(Deadline));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }

        using Socket outbound = sockets.Outbound(AddressFamily.InterNetwork, null);
        await outbound.ConnectAsync(endPoint).WaitAsync(Deadline);
        using Socket accepted = await listener.AcceptAsync().WaitAsync(Deadline);
        Assert.Equal(outbound.LocalEndPoint, accepted.RemoteEndPoint);
    }

    [Fact]
    [Trait("case", "INT-02")]
    public void IPv6_sockets_get_the_IPv6_options_and_a_spoofed_IPv6_source_binds()
    {
        using var netns = new TestNetns();
        using var handle = File.OpenHandle(netns.Path);
        using var executor = new NetnsExecutor(handle, netns.Name);
        var sockets = new PodSockets(executor, 0x539);

        Assert.True(sockets.SupportsIPv6());
        using Socket v4 = sockets.Listen(new IPEndPoint(IPAddress.Any, 15001), transparent: true);
        using Socket v6 = sockets.Listen(new IPEndPoint(IPAddress.IPv6Any, 15001), transparent: true);
        using Socket spoofed = sockets.Spoofed(IPAddress.Parse("fd00:77::5"));

        Assert.Equal(1, ReadInt(v6, SolIpv6, Ipv6Transparent));
        Assert.Equal(1, ReadInt(v6, SolIpv6, Ipv6Only)); // beside the IPv4 listener on the same port
        Assert.Equal(IPAddress.Parse("fd00:77::5"), ((IPEndPoint)spoofed.LocalEndPoint!).Address);
        Assert.Equal(1, ReadInt(spoofed, SolIpv6, Ipv6Transparent));
        Assert.Equal(1, ReadInt(spoofed, SolIpv6, Ipv6Freebind));
        Assert.Equal(0x539, ReadInt(spoofed, SolSocket, SoMark));
    }

    [Fact]
    [Trait("case", "INT-02")]
    public async Task The_original_IPv6_destination_of_a_REDIRECTed_connection_is_read_back()
    {
        using var netns = new TestNetns();
        netns.Exec("ip6tables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", "fd00:99::80", "--dport", "80", "-j", "REDIRECT", "--to-ports", "15001");
        netns.Exec("ip", "-6", "route", "add", "local", "fd00:99::80/128", "dev", "lo");
        using var handle = File.OpenHandle(netns.Path);
        using var executor = new NetnsExecutor(handle, netns.Name);
        var sockets = new PodSockets(executor, SocketOptions.ProxyMark);
        using Socket listener = sockets.Listen(new IPEndPoint(IPAddress.IPv6Any, 15001), transparent: false);

        using Socket client = sockets.Outbound(AddressFamily.InterNetworkV6, null);
        await client.ConnectAsync(IPEndPoint.Parse("[fd00:99::80]:80")).WaitAsync(Deadline);
        using Socket accepted = await listener.AcceptAsync().WaitAsync(Deadline);

        Assert.Equal(IPEndPoint.Parse("[fd00:99::80]:80"), SocketOptions.GetOriginalDestination(accepted));
    }

    private static int ReadInt(Socket socket, int level, int name)
    {
        Span<byte> value = stackalloc byte[4];
        Assert.Equal(4, socket.GetRawSocketOption(level, name, value));
        return BinaryPrimitives.ReadInt32LittleEndian(value);
    }
}
