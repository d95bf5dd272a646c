using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Grpc.Core;
using Hbone.Identity;
using Hbone.Istio.ControlPlane;
using Hbone.Istio.Protos.Envoy.Discovery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hbone.Istio.Tests.Infrastructure;

/// <summary>
/// A real Kestrel ADS server (HTTPS, HTTP/2, 127.0.0.1:0) whose every stream is driven step by step by the test:
/// read the next request, send a response, end with a status, drop, or truncate a frame.
/// </summary>
public sealed class ScriptedAdsServer : IAsyncDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly WebApplication _app;
    private readonly DevelopmentCertificateAuthority _ca = new("cluster.local");
    private readonly X509Certificate2 _serverCertificate;
    private readonly Channel<ScriptedStream> _streams = Channel.CreateUnbounded<ScriptedStream>();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<TimeSpan> _arrivals = [];
    private readonly List<ScriptedStream> _all = [];
    private int _streamCount;
    private readonly List<(int Count, TaskCompletionSource Signal)> _waiters = [];

    private ScriptedAdsServer(string directory)
    {
        Directory = directory;
        RootCertificatePath = Path.Combine(directory, "root-cert.pem");
        File.WriteAllText(RootCertificatePath, _ca.ExportRootPem());
        _serverCertificate = _ca.IssueServerCertificate(["istiod.istio-system.svc"], [IPAddress.Loopback]);
        WebApplicationBuilder builder = LoopbackGrpcHost.CreateBuilder(_serverCertificate);
        builder.Services.AddSingleton(this);
        _app = builder.Build();
        _app.MapGrpcService<AdsService>();
    }

    /// <summary>A temp directory for the root PEM and token files; deleted with the server.</summary>
    public string Directory { get; }

    /// <summary>The CA root PEM the client must trust.</summary>
    public string RootCertificatePath { get; }

    /// <summary>The listening address, <c>https://127.0.0.1:port</c>.</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>When set, every stream fails at once with this status (records its arrival time only).</summary>
    public StatusCode? FailEveryStream { get; set; }

    /// <summary>Streams opened so far.</summary>
    public int StreamCount => Volatile.Read(ref _streamCount);

    public static async Task<ScriptedAdsServer> StartAsync()
    {
        var server = new ScriptedAdsServer(System.IO.Directory.CreateTempSubdirectory("hbone-ads-").FullName);
        server.Address = await LoopbackGrpcHost.StartAsync(server._app, Deadline);
        return server;
    }

    /// <summary>Client options for this server: its root, a token file in <see cref="Directory"/>, cluster id <c>c1</c>.</summary>
    public IstioConnectionOptions ClientOptions(string tokenFile = "istio-token") => new()
    {
        Address = Address,
        RootCertificate = RootCertificatePath,
        TokenPath = Path.Combine(Directory, tokenFile),
        ClusterId = "c1",
    };

    /// <summary>The arrival times of the streams, from the server's start.</summary>
    public IReadOnlyList<TimeSpan> Arrivals
    {
        get
        {
            lock (_arrivals)
            {
                return [.. _arrivals];
            }
        }
    }

    /// <summary>Completes when at least <paramref name="count"/> streams have arrived (within the deadline).</summary>
    public Task WaitForStreamsAsync(int count, TimeSpan deadline)
    {
        TaskCompletionSource signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_arrivals)
        {
            if (_arrivals.Count >= count)
            {
                return Task.CompletedTask;
            }

            _waiters.Add((count, signal));
        }

        return signal.Task.WaitAsync(deadline);
    }

    /// <summary>The next stream the client opens.</summary>
    public async Task<ScriptedStream> NextStreamAsync() => await _streams.Reader.ReadAsync().AsTask().WaitAsync(Deadline);

    public async ValueTask DisposeAsync()
    {
        lock (_all)
        {
            foreach (ScriptedStream stream in _all)
            {
                stream.End(StatusCode.Unavailable);
            }
        }

        await _app.StopAsync().WaitAsync(Deadline);
        await _app.DisposeAsync();
        _serverCertificate.Dispose();
        _ca.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }

    private async Task HandleAsync(IAsyncStreamReader<DeltaDiscoveryRequest> requests, IServerStreamWriter<DeltaDiscoveryResponse> responses, ServerCallContext context)
    {
        Interlocked.Increment(ref _streamCount);
        lock (_arrivals)
        {
            _arrivals.Add(_clock.Elapsed);
            foreach ((int count, TaskCompletionSource signal) in _waiters)
            {
                if (_arrivals.Count >= count)
                {
                    signal.TrySetResult();
                }
            }
        }

        if (FailEveryStream is { } status)
        {
            throw new RpcException(new Status(status, "scripted failure"));
        }

        var stream = new ScriptedStream(requests, responses, context);
        lock (_all)
        {
            _all.Add(stream);
        }

        await _streams.Writer.WriteAsync(stream);
        await stream.RunAsync();
    }

    private sealed class AdsService(ScriptedAdsServer server) : AggregatedDiscoveryService.AggregatedDiscoveryServiceBase
    {
        public override Task DeltaAggregatedResources(IAsyncStreamReader<DeltaDiscoveryRequest> requestStream, IServerStreamWriter<DeltaDiscoveryResponse> responseStream, ServerCallContext context) =>
            server.HandleAsync(requestStream, responseStream, context);
    }
}

/// <summary>One client stream, scripted by the test.</summary>
public sealed class ScriptedStream
{
    private readonly IAsyncStreamReader<DeltaDiscoveryRequest> _requests;
    private readonly IServerStreamWriter<DeltaDiscoveryResponse> _responses;
    private readonly ServerCallContext _context;
    private readonly Channel<DeltaDiscoveryRequest> _received = Channel.CreateUnbounded<DeltaDiscoveryRequest>();
    private readonly TaskCompletionSource<Func<Task>> _end = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal ScriptedStream(IAsyncStreamReader<DeltaDiscoveryRequest> requests, IServerStreamWriter<DeltaDiscoveryResponse> responses, ServerCallContext context)
    {
        _requests = requests;
        _responses = responses;
        _context = context;
        // A client that goes away ends the scripted handler too.
        context.CancellationToken.Register(() => _end.TrySetResult(() => Task.CompletedTask));
    }

    /// <summary>The request headers of the stream.</summary>
    public Metadata Headers => _context.RequestHeaders;

    /// <summary>The next request, within the deadline.</summary>
    public async Task<DeltaDiscoveryRequest> ReadAsync() =>
        await _received.Reader.ReadAsync().AsTask().WaitAsync(ScriptedAdsServer.Deadline);

    /// <summary>Sends one response.</summary>
    public Task SendAsync(DeltaDiscoveryResponse response) => _responses.WriteAsync(response).WaitAsync(ScriptedAdsServer.Deadline);

    /// <summary>Ends the stream with a status (OK ends it cleanly).</summary>
    public void End(StatusCode status) => _end.TrySetResult(() =>
        status == StatusCode.OK ? Task.CompletedTask : throw new RpcException(new Status(status, "scripted end")));

    /// <summary>Resets the stream (RST_STREAM), as a crashing server would.</summary>
    public void Drop() => _end.TrySetResult(() =>
    {
        _context.GetHttpContext().Abort();
        return Task.CompletedTask;
    });

    /// <summary>Writes the head of a gRPC message that promises more bytes than follow, then resets the stream.</summary>
    public void Truncate() => _end.TrySetResult(async () =>
    {
        byte[] frame = new byte[5 + 10];
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), 1000);
        var http = _context.GetHttpContext();
        await http.Response.Body.WriteAsync(frame);
        await http.Response.Body.FlushAsync();
        http.Abort();
    });

    internal async Task RunAsync()
    {
        Task pump = PumpAsync();
        Func<Task> end = await _end.Task;
        await end();
        _ = pump;
    }

    private async Task PumpAsync()
    {
        try
        {
            while (await _requests.MoveNext(_context.CancellationToken))
            {
                await _received.Writer.WriteAsync(_requests.Current);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException or RpcException)
        {
            // The stream ended under the reader: nothing more to record.
        }
        finally
        {
            _received.Writer.TryComplete();
        }
    }
}
