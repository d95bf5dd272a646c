using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Hbone.Ztunnel.Proxy;
using Hbone.Ztunnel.Proxy.Inbound;
using Hbone.Ztunnel.Proxy.Outbound;
using Hbone.Ztunnel.Proxy.Socks5;
using Hbone.Ztunnel.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hbone.Ztunnel.Tests.Proxy;

/// <summary><see cref="PodInboundTransport"/>: sockets accepted in pods become Kestrel connections.</summary>
public sealed class PodInboundTransportTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    [Trait("case", "ZT-UNIT-30")]
    public void Binds_only_the_pod_inbound_endpoint()
    {
        var transport = new PodInboundTransport(NullLoggerFactory.Instance);

        Assert.True(transport.CanBind(PodInboundEndPoint.Instance));
        Assert.False(transport.CanBind(new IPEndPoint(IPAddress.Loopback, 15008)));
        Assert.False(transport.CanBind(new IPEndPoint(IPAddress.Any, 0)));
        Assert.False(transport.CanBind(new UnixDomainSocketEndPoint("/tmp/hbone-zt.sock")));
    }

    [Fact]
    [Trait("case", "ZT-UNIT-30")]
    public async Task An_enqueued_socket_is_accepted_with_its_endpoints_and_carries_bytes_both_ways()
    {
        var transport = new PodInboundTransport(NullLoggerFactory.Instance);
        await using var listener = await transport.BindAsync(PodInboundEndPoint.Instance).AsTask().WaitAsync(Deadline);
        Assert.Same(PodInboundEndPoint.Instance, listener.EndPoint);
        using var pair = await SocketPair.CreateAsync();
        var local = pair.Server.LocalEndPoint;
        var remote = pair.Server.RemoteEndPoint;

        Assert.True(transport.TryEnqueue(pair.Server));
        await using var context = await listener.AcceptAsync().AsTask().WaitAsync(Deadline);

        Assert.NotNull(context);
        Assert.Equal(local, context.LocalEndPoint);
        Assert.Equal(remote, context.RemoteEndPoint);
        Assert.Equal(pair.Client.LocalEndPoint, context.RemoteEndPoint);

        byte[] request = RandomNumberGenerator.GetBytes(200_000);
        await pair.Client.SendAsync(request).WaitAsync(Deadline);
        Assert.Equal(request, await ReadExactlyAsync(context.Transport.Input, request.Length).WaitAsync(Deadline));

        byte[] response = RandomNumberGenerator.GetBytes(50_000);
        await context.Transport.Output.WriteAsync(response).AsTask().WaitAsync(Deadline);
        byte[] received = new byte[response.Length];
        int total = 0;
        while (total < received.Length)
        {
            int read = await pair.Client.ReceiveAsync(received.AsMemory(total)).AsTask().WaitAsync(Deadline);
            Assert.NotEqual(0, read);
            total += read;
        }

        Assert.Equal(response, received);
    }

    [Fact]
    [Trait("case", "ZT-UNIT-42")]
    public async Task The_adopter_gets_the_kestrel_connection_and_aborting_it_closes_the_peer()
    {
        var transport = new PodInboundTransport(NullLoggerFactory.Instance);
        await using var listener = await transport.BindAsync(PodInboundEndPoint.Instance).AsTask().WaitAsync(Deadline);
        using var pair = await SocketPair.CreateAsync();
        ConnectionContext? adopted = null;

        Assert.True(transport.TryEnqueue(pair.Server, connection => adopted = connection));
        await using var context = await listener.AcceptAsync().AsTask().WaitAsync(Deadline);
        Assert.NotNull(context);
        Assert.Same(context, adopted);

        context.Abort(new ConnectionAbortedException("the pod was removed"));
        var buffer = new byte[16];
        int read;
        try
        {
            read = await pair.Client.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(Deadline);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            read = 0;
        }

        Assert.Equal(0, read);
    }

    [Fact]
    [Trait("case", "ZT-UNIT-30")]
    public async Task Sockets_are_accepted_in_the_order_they_were_enqueued()
    {
        var transport = new PodInboundTransport(NullLoggerFactory.Instance);
        await using var listener = await transport.BindAsync(PodInboundEndPoint.Instance).AsTask().WaitAsync(Deadline);
        using var first = await SocketPair.CreateAsync();
        using var second = await SocketPair.CreateAsync();

        var pending = listener.AcceptAsync().AsTask();
        Assert.False(pending.IsCompleted);
        Assert.True(transport.TryEnqueue(first.Server));
        Assert.True(transport.TryEnqueue(second.Server));

        await using var a = await pending.WaitAsync(Deadline);
        await using var b = await listener.AcceptAsync().AsTask().WaitAsync(Deadline);
        Assert.Equal(first.Server.RemoteEndPoint, a!.RemoteEndPoint);
        Assert.Equal(second.Server.RemoteEndPoint, b!.RemoteEndPoint);
    }

    [Fact]
    [Trait("case", "ZT-UNIT-31")]
    public async Task Unbind_completes_a_pending_accept_with_null_and_refuses_new_sockets()
    {
        var transport = new PodInboundTransport(NullLoggerFactory.Instance);
        await using var listener = await transport.BindAsync(PodInboundEndPoint.Instance).AsTask().WaitAsync(Deadline);
        var pending = listener.AcceptAsync().AsTask();

        await listener.UnbindAsync().AsTask().WaitAsync(Deadline);

        Assert.Null(await pending.WaitAsync(Deadline));
        Assert.Null(await listener.AcceptAsync().AsTask().WaitAsync(Deadline));
        using var pair = await SocketPair.CreateAsync();
        Assert.False(transport.TryEnqueue(pair.Server));
    }

    [Fact]
    [Trait("case", "ZT-UNIT-31")]
    public async Task A_cancelled_accept_returns_null()
    {
        var transport = new PodInboundTransport(NullLoggerFactory.Instance);
        await using var listener = await transport.BindAsync(PodInboundEndPoint.Instance).AsTask().WaitAsync(Deadline);
        using var cts = new CancellationTokenSource();
        var pending = listener.AcceptAsync(cts.Token).AsTask();

        await cts.CancelAsync();

        Assert.Null(await pending.WaitAsync(Deadline));
    }

    [Fact]
    [Trait("case", "ZT-UNIT-31")]
    public async Task Dispose_closes_sockets_still_queued()
    {
        var transport = new PodInboundTransport(NullLoggerFactory.Instance);
        var listener = await transport.BindAsync(PodInboundEndPoint.Instance).AsTask().WaitAsync(Deadline);
        using var pair = await SocketPair.CreateAsync();
        Assert.True(transport.TryEnqueue(pair.Server));

        await listener.DisposeAsync().AsTask().WaitAsync(Deadline);

        Assert.Equal(0, await pair.Client.ReceiveAsync(new byte[1]).WaitAsync(Deadline));
        Assert.False(transport.TryEnqueue(pair.Server));
    }

    private static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int count)
    {
        while (true)
        {
            ReadResult result = await reader.ReadAsync();
            if (result.Buffer.Length >= count)
            {
                byte[] bytes = result.Buffer.Slice(0, count).ToArray();
                reader.AdvanceTo(result.Buffer.GetPosition(count));
                return bytes;
            }

            if (result.IsCompleted)
            {
                throw new EndOfStreamException($"EOF after {result.Buffer.Length} of {count} bytes");
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }
}
