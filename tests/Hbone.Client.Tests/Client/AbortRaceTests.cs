using System.Net;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Client;

/// <summary>Aborting one tunnel while the server streams into it must reset that stream only, never the connection.</summary>
public sealed class AbortRaceTests
{
    [Fact]
    [Trait("case", "CON-10")]
    public async Task CON10_aborting_tunnels_while_data_arrives_leaves_the_shared_connection_and_its_other_tunnels_intact()
    {
        await using var server = await HboneTestServer.StartAsync(handler: hbone => hbone.AddHandler(async context =>
        {
            var tunnel = await context.AcceptAsync();
            try
            {
                if (context.Authority.Port == 1)
                {
                    // Streams until the client resets the tunnel.
                    var chunk = new byte[16 * 1024];
                    for (var i = 0; i < 100_000 && !context.Aborted.IsCancellationRequested; i++)
                    {
                        await tunnel.Output.WriteAsync(chunk, context.Aborted);
                    }

                    return;
                }

                await tunnel.Input.CopyToAsync(tunnel.Output, context.Aborted);
                await tunnel.CompleteWritesAsync();
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
            {
            }
        }));
        await using var client = ClientFixture.CreateClient();
        var pod = IPAddress.Parse("10.244.0.9");
        await using var sibling = await client.OpenAsync(ClientFixture.Request(server.EndPoint, new IPEndPoint(pod, 2)));
        var connection = Tunnels.ConnectionOf(sibling);

        var buffer = new byte[4096];
        for (var i = 0; i < 150; i++)
        {
            var victim = await client.OpenAsync(ClientFixture.Request(server.EndPoint, new IPEndPoint(pod, 1)));
            Assert.Same(connection, Tunnels.ConnectionOf(victim));
            await victim.ReadAtLeastAsync(buffer, 1).AsTask().WaitAsync(ClientFixture.Deadline);
            if (i % 2 == 0)
            {
                victim.Abort();
            }

            await victim.DisposeAsync();
            Assert.True(connection.IsUsable, $"iteration {i}: aborting one tunnel broke the connection");
        }

        // Many at once, aborted from other threads while their DATA is being delivered.
        for (var round = 0; round < 10; round++)
        {
            var victims = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => client.OpenAsync(ClientFixture.Request(server.EndPoint, new IPEndPoint(pod, 1))))));
            await Task.WhenAll(victims.Select(v => Task.Run(async () =>
            {
                await v.ReadAtLeastAsync(new byte[1024], 1).AsTask().WaitAsync(ClientFixture.Deadline);
                v.Abort();
                await v.DisposeAsync();
            })));
            Assert.True(connection.IsUsable, $"round {round}: aborting tunnels broke the connection");
        }

        // Disposing a tunnel while a read waits on it ends that read with the local reset, nothing else.
        for (var i = 0; i < 20; i++)
        {
            var idle = await client.OpenAsync(ClientFixture.Request(server.EndPoint, new IPEndPoint(pod, 3)));
            var pending = idle.ReadAsync(new byte[16]).AsTask();
            await idle.DisposeAsync().AsTask().WaitAsync(ClientFixture.Deadline);
            var error = await Assert.ThrowsAsync<Hbone.Http2.Http2StreamResetException>(() => pending.WaitAsync(ClientFixture.Deadline));
            Assert.Equal(Hbone.Http2.Http2ErrorCode.Cancel, error.ErrorCode);
        }

        await Tunnels.EchoExchangeAsync(sibling, 1000);
        Assert.True(connection.IsUsable);
        Assert.True(await Tunnels.EventuallyAsync(() => connection.ActiveStreams == 1, ClientFixture.Deadline), $"{connection.ActiveStreams - 1} stream slots leaked");
        Assert.Equal(1, client.Pool.CountConnections(ClientFixture.Key(server.EndPoint)));
    }
}
