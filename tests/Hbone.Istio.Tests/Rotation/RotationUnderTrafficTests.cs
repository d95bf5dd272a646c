using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hbone.Client;
using Hbone.Identity;
using Hbone.Istio.Ca;
using Hbone.Istio.ControlPlane;
using Hbone.Istio.Tests.Infrastructure;
using Hbone.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hbone.Istio.Tests.Rotation;

/// <summary>
/// ROT-01: certificates from istiod's CA with a lifetime of seconds rotate several times while tunnels carry data
/// through an HBONE server (Hbone.Kestrel) and client (HboneClient) that take them from one IstioCertificateManager.
/// </summary>
public sealed class RotationUnderTrafficTests : IAsyncLifetime
{
    private static readonly SpiffeId Echo = SpiffeId.ForIstio("cluster.local", "default", "echo");
    private static readonly SpiffeId Client = SpiffeId.ForIstio("cluster.local", "default", "client");
    private static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private readonly string _dir = Directory.CreateTempSubdirectory("hbone-rotation-").FullName;
    private readonly DevelopmentCertificateAuthority _ca = new();
    private readonly TcpListener _upstream = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private ScriptedCaServer _caServer = null!;
    private ControlPlaneChannel _channel = null!;
    private IstioCertificateManager _manager = null!;
    private WebApplication _server = null!;
    private IPEndPoint _serverEndPoint = null!;
    private Task _echo = Task.CompletedTask;

    public async Task InitializeAsync()
    {
        _caServer = await ScriptedCaServer.StartAsync(_ca);
        _channel = new ControlPlaneChannel(new IstioConnectionOptions { Address = _caServer.Address, RootCertificate = _caServer.WriteRootPem(Path.Combine(_dir, "root.pem")) });
        _manager = new IstioCertificateManager(
            new IstioCaClient(_channel, Lifetime, impersonate: true),
            new IstioCertificateManagerOptions { InitialRetryDelay = TimeSpan.FromMilliseconds(100), MaxRetryDelay = TimeSpan.FromSeconds(1) });
        _upstream.Start();
        _echo = EchoAsync(_stop.Token);

        ISvidSource serverCertificate = await _manager.GetAsync(Echo, CancellationToken.None).AsTask().WaitAsync(Deadline);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddHboneServer(o =>
        {
            o.Certificate = serverCertificate;
            o.TrustBundle = _manager;
        }).AddForwarder();
        builder.WebHost.UseKestrel(k => k.ListenHbone(IPAddress.Loopback, 0));
        _server = builder.Build();
        await _server.StartAsync();
        var address = _server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _serverEndPoint = new IPEndPoint(IPAddress.Loopback, new Uri(address).Port);
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _server.StopAsync();
        await _server.DisposeAsync();
        _upstream.Stop();
        await _echo.WaitAsync(Deadline).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _manager.DisposeAsync();
        _channel.Dispose();
        await _caServer.DisposeAsync();
        _ca.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    [Trait("case", "ROT-01")]
    public async Task ROT_01_certificates_rotate_several_times_under_traffic_and_no_tunnel_fails()
    {
        ISvidSource serverCertificate = _manager.For(Echo);
        ISvidSource clientCertificate = await _manager.GetAsync(Client, CancellationToken.None).AsTask().WaitAsync(Deadline);
        string firstServerSerial = serverCertificate.GetSvid().Certificate.SerialNumber;
        int serverRotations = 0, clientRotations = 0;
        var rotated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        serverCertificate.Changed += (_, _) => Count(ref serverRotations);
        clientCertificate.Changed += (_, _) => Count(ref clientRotations);

        await using var client = new HboneClient(new HboneClientOptions { Certificate = clientCertificate, TrustBundle = _manager });
        using var traffic = new CancellationTokenSource();

        // Long tunnels stream the whole time; short ones open every 200 ms, so new handshakes meet every rotation.
        var longTunnels = Enumerable.Range(0, 6).Select(_ => StreamAsync(client, traffic.Token)).ToList();
        var shortTunnels = ShortTunnelsAsync(client, traffic.Token);

        await rotated.Task.WaitAsync(Deadline);
        // On a loaded machine the long tunnels can slow the short ones down: keep the traffic on (within the
        // deadline) until the short tunnels counted below have been opened too.
        var enough = Stopwatch.StartNew();
        while (Volatile.Read(ref _shortOpened) < 10 && enough.Elapsed < Deadline)
        {
            await Task.Delay(50);
        }

        await traffic.CancelAsync();
        var results = await Task.WhenAll(longTunnels).WaitAsync(Deadline);
        var (opened, shortMismatches) = await shortTunnels.WaitAsync(Deadline);

        Assert.All(results, r => Assert.Equal(r.Sent, r.Received));
        Assert.All(results, r => Assert.True(r.Bytes > 0));
        Assert.Equal(0, shortMismatches);
        Assert.True(opened >= 10, $"only {opened} short tunnels were opened");
        Assert.True(Volatile.Read(ref serverRotations) >= 3 && Volatile.Read(ref clientRotations) >= 3);

        // A new handshake presents the certificate in force now, not the first one (rotations go on meanwhile, so the
        // one in force just before or just after the handshake).
        string before = serverCertificate.GetSvid().Certificate.SerialNumber;
        string presented = await PresentedSerialAsync(clientCertificate.GetSvid());
        string after = serverCertificate.GetSvid().Certificate.SerialNumber;
        Assert.Contains(presented, (string[])[before, after]);
        Assert.NotEqual(firstServerSerial, presented);

        void Count(ref int rotations)
        {
            Interlocked.Increment(ref rotations);
            if (Volatile.Read(ref serverRotations) >= 3 && Volatile.Read(ref clientRotations) >= 3)
            {
                rotated.TrySetResult();
            }
        }
    }

    private HboneRequest Request() => new()
    {
        Destination = _serverEndPoint,
        Authority = HboneAuthority.FromEndPoint((IPEndPoint)_upstream.LocalEndpoint),
        ExpectedIdentities = [Echo],
    };

    // Writes random chunks until cancelled, reads the echo concurrently, and compares SHA-256 of both directions.
    private async Task<(string Sent, string Received, long Bytes)> StreamAsync(HboneClient client, CancellationToken stop)
    {
        await using HboneStream tunnel = await client.ConnectAsync(Request()).AsTask().WaitAsync(Deadline);
        using var sent = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        Stream stream = tunnel;
        var reader = Task.Run(async () =>
        {
            byte[] buffer = new byte[32 * 1024];
            long read = 0;
            int n;
            while ((n = await stream.ReadAsync(buffer).AsTask().WaitAsync(Deadline)) > 0)
            {
                received.AppendData(buffer, 0, n);
                read += n;
            }

            return read;
        });

        byte[] chunk = new byte[16 * 1024];
        while (!stop.IsCancellationRequested)
        {
            RandomNumberGenerator.Fill(chunk);
            sent.AppendData(chunk);
            await stream.WriteAsync(chunk).AsTask().WaitAsync(Deadline);
            total += chunk.Length;
            await Task.Delay(20, CancellationToken.None);
        }

        await tunnel.CompleteWritesAsync().AsTask().WaitAsync(Deadline);
        long echoed = await reader.WaitAsync(Deadline);
        Assert.Equal(total, echoed);
        return (Convert.ToHexString(sent.GetHashAndReset()), Convert.ToHexString(received.GetHashAndReset()), total);
    }

    private int _shortOpened;

    private async Task<(int Opened, int Mismatches)> ShortTunnelsAsync(HboneClient client, CancellationToken stop)
    {
        int opened = 0, mismatches = 0;
        byte[] payload = RandomNumberGenerator.GetBytes(1024);
        while (!stop.IsCancellationRequested)
        {
            await using (HboneStream tunnel = await client.ConnectAsync(Request()).AsTask().WaitAsync(Deadline))
            {
                Stream stream = tunnel;
                await stream.WriteAsync(payload).AsTask().WaitAsync(Deadline);
                await tunnel.CompleteWritesAsync().AsTask().WaitAsync(Deadline);
                using var echoed = new MemoryStream();
                await stream.CopyToAsync(echoed).WaitAsync(Deadline);
                mismatches += echoed.ToArray().AsSpan().SequenceEqual(payload) ? 0 : 1;
                opened++;
                Interlocked.Increment(ref _shortOpened);
            }

            await Task.Delay(200, CancellationToken.None);
        }

        return (opened, mismatches);
    }

    private async Task<string> PresentedSerialAsync(Svid clientSvid)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(_serverEndPoint).WaitAsync(Deadline);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "hbone",
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            ClientCertificates = [clientSvid.Certificate],
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        }).WaitAsync(Deadline);
        return new X509Certificate2(tls.RemoteCertificate!).SerialNumber;
    }

    private async Task EchoAsync(CancellationToken stop)
    {
        var connections = new List<Task>();
        try
        {
            while (true)
            {
                Socket socket = await _upstream.AcceptSocketAsync(stop);
                connections.Add(Task.Run(async () =>
                {
                    using (socket)
                    {
                        byte[] buffer = new byte[64 * 1024];
                        int n;
                        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None)) > 0)
                        {
                            await socket.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
                        }

                        socket.Shutdown(SocketShutdown.Send);
                    }
                }, CancellationToken.None));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        await Task.WhenAll(connections).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}
