using System.Net;
using System.Net.Sockets;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Client;

/// <summary>How connections are dialed: the socket hook, the source address, retries before any tunnel byte.</summary>
public sealed class DialTests
{
    [Fact]
    public async Task Socket_hook_creates_every_dial_socket_and_the_server_sees_its_bound_address()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        var dials = new List<HboneDialContext>();
        await using var client = ClientFixture.CreateClient(o => o.CreateSocket = context =>
        {
            lock (dials)
            {
                dials.Add(context);
            }

            // What a node proxy does here: bind, mark (SO_MARK), or create the socket in a pod's namespace.
            var socket = new Socket(context.Destination.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.3"), 0));
            return socket;
        });

        await using (var tunnel = await client.OpenAsync(ClientFixture.Request(server.EndPoint, upstream.EndPoint)))
        {
            Assert.Equal("hi"u8.ToArray(), await Tunnels.RoundTripAsync(tunnel, "hi"u8.ToArray()));
        }

        var dial = Assert.Single(dials);
        Assert.Equal(server.EndPoint, dial.Destination);
        Assert.Equal("spiffe://cluster.local/ns/default/sa/client", dial.SourceIdentity.ToString());
        Assert.Equal(IPAddress.Parse("127.0.0.3"), (await server.NextLogAsync()).RemoteEndPoint?.Address);
    }

    [Fact]
    public async Task Source_address_binds_the_dial_and_separates_pool_keys()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        await using var client = ClientFixture.CreateClient();

        foreach (var source in new[] { "127.0.0.4", "127.0.0.5" })
        {
            var request = ClientFixture.Request(server.EndPoint, upstream.EndPoint);
            var bound = new HboneRequest
            {
                Destination = request.Destination,
                Authority = request.Authority,
                ExpectedIdentities = request.ExpectedIdentities,
                SourceAddress = IPAddress.Parse(source),
            };
            await using var tunnel = await client.OpenAsync(bound);
            Assert.Equal("x"u8.ToArray(), await Tunnels.RoundTripAsync(tunnel, "x"u8.ToArray()));
            Assert.Equal(IPAddress.Parse(source), (await server.NextLogAsync()).RemoteEndPoint?.Address);
        }
    }

    [Fact]
    public async Task A_dial_reset_during_the_handshake_is_retried_and_succeeds()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync();
        using var relay = new ResetFirstRelay(server.EndPoint, resets: 1);
        await using var client = ClientFixture.CreateClient(o =>
        {
            o.MaxDialRetries = 2;
            o.DialRetryDelay = TimeSpan.FromMilliseconds(10);
        });

        await using var tunnel = await client.OpenAsync(ClientFixture.Request(relay.EndPoint, upstream.EndPoint));
        Assert.Equal("ok"u8.ToArray(), await Tunnels.RoundTripAsync(tunnel, "ok"u8.ToArray()));
        Assert.Equal(2, relay.Connections);
    }

    [Fact]
    public async Task Without_retries_a_reset_dial_fails_with_a_typed_error()
    {
        await using var server = await HboneTestServer.StartAsync();
        using var relay = new ResetFirstRelay(server.EndPoint, resets: 1);
        await using var client = ClientFixture.CreateClient(o => o.MaxDialRetries = 0);

        var error = await Assert.ThrowsAsync<HboneException>(() => client.OpenAsync(ClientFixture.Request(relay.EndPoint, new IPEndPoint(IPAddress.Loopback, 9))));
        Assert.Equal(HboneErrorReason.ConnectionFailed, error.Reason);
        Assert.Equal(1, relay.Connections);
    }

    /// <summary>A TCP relay to <c>target</c> that resets its first <c>resets</c> connections at once.</summary>
    private sealed class ResetFirstRelay : IDisposable
    {
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly CancellationTokenSource _stop = new();
        private int _connections;

        public ResetFirstRelay(IPEndPoint target, int resets)
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(16);
            EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
            _ = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    Socket accepted;
                    try
                    {
                        accepted = await _listener.AcceptAsync(_stop.Token);
                    }
                    catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
                    {
                        return;
                    }

                    if (Interlocked.Increment(ref _connections) <= resets)
                    {
                        accepted.LingerState = new LingerOption(true, 0);
                        accepted.Dispose();
                        continue;
                    }

                    _ = RelayAsync(accepted, target);
                }
            });
        }

        public IPEndPoint EndPoint { get; }

        public int Connections => Volatile.Read(ref _connections);

        private async Task RelayAsync(Socket accepted, IPEndPoint target)
        {
            using var client = accepted;
            using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await server.ConnectAsync(target, _stop.Token);
                using var a = new NetworkStream(client);
                using var b = new NetworkStream(server);
                await Task.WhenAny(a.CopyToAsync(b, _stop.Token), b.CopyToAsync(a, _stop.Token));
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Dispose();
        }
    }
}
