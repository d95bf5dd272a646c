using System.Net;
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Hbone.Kestrel.Tests.Infrastructure;

namespace Hbone.Kestrel.Tests.Defences.Infrastructure;

/// <summary>
/// A real Kestrel HBONE server on 127.0.0.1 (as <see cref="HboneTestServer"/>, the same ListenHbone path) whose
/// log lines from Information up are captured by <see cref="Logs"/>.
/// </summary>
internal sealed class DefenceServer : IAsyncDisposable
{
    private DefenceServer(WebApplication app, CapturingLoggerProvider logs, IPEndPoint endPoint)
    {
        App = app;
        Logs = logs;
        EndPoint = endPoint;
    }

    public WebApplication App { get; }

    public CapturingLoggerProvider Logs { get; }

    public IPEndPoint EndPoint { get; }

    /// <summary>Starts a server; the forwarder handles CONNECTs unless <paramref name="handler"/> chooses otherwise.</summary>
    public static async Task<DefenceServer> StartAsync(Action<HboneServerOptions>? configure = null, Action<HboneServerBuilder>? handler = null)
    {
        var logs = new CapturingLoggerProvider();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddProvider(logs);
        var hbone = builder.Services.AddHboneServer(o =>
        {
            o.Certificate = TestPki.Shared.ServerSource();
            configure?.Invoke(o);
        });
        if (handler is null)
        {
            hbone.AddForwarder();
        }
        else
        {
            handler(hbone);
        }

        builder.WebHost.ConfigureKestrel(k => k.ListenHbone(IPAddress.Loopback, 0));
        var app = builder.Build();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new DefenceServer(app, logs, new IPEndPoint(IPAddress.Loopback, new Uri(address).Port));
    }

    public Task<H2Client> ConnectAsync(bool sendPreface = true, (ushort Id, int Value)[]? settings = null) =>
        H2Client.ConnectAsync(EndPoint, sendPreface, settings);

    /// <summary>
    /// Sets an <see cref="HboneServerOptions"/> property by name: for options of the contract that this branch's
    /// source may not have yet. A missing property fails the test with "<paramref name="name"/> option missing".
    /// </summary>
    public static void SetOption(HboneServerOptions options, string name, object value)
    {
        var property = typeof(HboneServerOptions).GetProperty(name, BindingFlags.Public | BindingFlags.Instance);
        if (property is null || !property.CanWrite)
        {
            Assert.Fail($"{name} option missing");
        }

        property.SetValue(options, value);
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await App.StopAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            await App.DisposeAsync();
        }
    }
}

/// <summary>The defence tests measure time, memory and log rates: they run one at a time, apart from other tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DefencesCollection
{
    public const string Name = "Defences";
}
