using System.Net;
using Hbone.Kestrel.Tests.Infrastructure;
using Hbone.Kestrel.Tests.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hbone.Kestrel.Tests.Connect;

/// <summary>ListenHbone's configure callback: connection middleware it adds runs between TLS and the engine.</summary>
public sealed class ListenConfigureTests
{
    [Fact]
    public async Task Connection_middleware_added_by_configure_sees_the_decrypted_connection_and_the_engine_still_answers()
    {
        var seen = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddHboneServer(o => o.Certificate = TestPki.Shared.ServerSource())
            .AddHandler(ctx => ctx.RejectAsync(503, "configured listener"));
        builder.WebHost.ConfigureKestrel(k => k.ListenHbone(IPAddress.Loopback, 0, listen => listen.Use(next => connection =>
        {
            // After TLS the connection carries the peer identity feature set by the handshake.
            seen.TrySetResult(connection.Features.Get<IHbonePeerIdentityFeature>()?.PeerIdentity?.ToString());
            return next(connection);
        })));
        await using var app = builder.Build();
        await app.StartAsync();
        var port = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

        await using var connection = await RawHttp2Connection.OpenAsync(new IPEndPoint(IPAddress.Loopback, port), TestPki.Shared.Client);
        await connection.WriteHeadersAsync(1, [(":method", "CONNECT"), (":authority", "127.0.0.1:9")], endStream: false);

        Assert.Equal(ServerAnswer.Status(503), await ServerAnswer.ReadAsync(connection, 1));
        Assert.Equal("spiffe://cluster.local/ns/default/sa/client", await seen.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        await app.StopAsync();
    }
}
