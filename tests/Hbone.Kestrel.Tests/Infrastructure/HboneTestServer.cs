using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hbone.Kestrel.Tests.Infrastructure;

/// <summary>A real Kestrel HBONE server on 127.0.0.1 with a free port; collects its access-log entries.</summary>
internal sealed class HboneTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Channel<HboneTunnelLog> _logs;

    private HboneTestServer(WebApplication app, Channel<HboneTunnelLog> logs, IPEndPoint endPoint)
    {
        _app = app;
        _logs = logs;
        EndPoint = endPoint;
    }

    public IPEndPoint EndPoint { get; }

    public WebApplication App => _app;

    public static async Task<HboneTestServer> StartAsync(
        Action<HboneServerOptions>? configure = null,
        Action<HboneServerBuilder>? handler = null,
        Action<HboneForwarderOptions>? forwarder = null)
    {
        var logs = Channel.CreateUnbounded<HboneTunnelLog>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var hbone = builder.Services.AddHboneServer(o =>
        {
            o.Certificate = TestPki.Shared.ServerSource();
            o.OnTunnelCompleted = entry => logs.Writer.TryWrite(entry);
            configure?.Invoke(o);
        });
        if (handler is null)
        {
            hbone.AddForwarder(forwarder);
        }
        else
        {
            handler(hbone);
        }

        builder.WebHost.ConfigureKestrel(k => k.ListenHbone(IPAddress.Loopback, 0));
        var app = builder.Build();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(address).Port;
        return new HboneTestServer(app, logs, new IPEndPoint(IPAddress.Loopback, port));
    }

    /// <summary>The next access-log entry, within a deadline.</summary>
    public async Task<HboneTunnelLog> NextLogAsync(TimeSpan? timeout = null) =>
        await _logs.Reader.ReadAsync().AsTask().WaitAsync(timeout ?? TimeSpan.FromSeconds(15));

    /// <summary>An access-log entry already written, without waiting; null when there is none.</summary>
    public HboneTunnelLog? TryNextLog() => _logs.Reader.TryRead(out var entry) ? entry : null;

    public Task<RawHttp2Connection> ConnectAsync(Identity.Svid? client = null) =>
        RawHttp2Connection.OpenAsync(EndPoint, client ?? TestPki.Shared.Client);

    /// <summary>A connection whose frames are handled in the background, ready for CONNECT streams.</summary>
    public async Task<RawHttp2Connection> ConnectProcessingAsync(Identity.Svid? client = null)
    {
        var connection = await ConnectAsync(client);
        connection.StartProcessing();
        return connection;
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _app.StopAsync(cts.Token);
        }
        finally
        {
            await _app.DisposeAsync();
        }
    }
}
