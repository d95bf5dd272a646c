using System.Security.Cryptography;
using Hbone.Client.Tests.Infrastructure;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Client.Tests.Client;

/// <summary>
/// Our client and server with UnsafePreferInlineScheduling on both, as the ztunnel and the CLI run them
/// (new case id INL-02, not in the catalogue): small exchanges resume inline, bulk reads on the thread pool; bytes must be unchanged either way.
/// </summary>
public sealed class InlineSchedulingTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    [Trait("case", "INL-02")]
    public async Task Concurrent_1_KB_exchanges_and_a_bulk_transfer_echo_unchanged_with_inline_scheduling()
    {
        using var upstream = new TcpUpstream();
        using var stop = new CancellationTokenSource();
        _ = upstream.RunEchoAsync(stop.Token);
        await using var server = await HboneTestServer.StartAsync(o => o.UnsafePreferInlineScheduling = true);
        await using var client = ClientFixture.CreateClient(o => o.UnsafePreferInlineScheduling = true);

        var exchanges = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            await using var tunnel = await client.ConnectAsync(ClientFixture.Request(server.EndPoint, upstream.EndPoint));
            var response = new byte[1024];
            for (var i = 0; i < 100; i++)
            {
                var request = RandomNumberGenerator.GetBytes(1024);
                await tunnel.WriteAsync(request);
                await tunnel.ReadExactlyAsync(response);
                Assert.Equal(SHA256.HashData(request), SHA256.HashData(response));
            }
        })).ToList();

        await using var bulk = await client.ConnectAsync(ClientFixture.Request(server.EndPoint, upstream.EndPoint)).AsTask().WaitAsync(Deadline);
        var payload = RandomNumberGenerator.GetBytes(8 * 1024 * 1024);
        var reader = Task.Run(async () =>
        {
            var output = new MemoryStream();
            await bulk.CopyToAsync(output);
            return output.ToArray();
        });
        await bulk.WriteAsync(payload);
        await bulk.CompleteWritesAsync();

        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(await reader.WaitAsync(Deadline)));
        await Task.WhenAll(exchanges).WaitAsync(Deadline);
    }
}
