using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Hbone.Identity;
using Hbone.Istio.Protos.Ca;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hbone.Istio.Tests.Infrastructure;

/// <summary>What the scripted CA answers to the next CreateCertificate calls.</summary>
public enum ScriptedCaBehavior
{
    /// <summary>Signs the CSR for the impersonated identity, or <see cref="ScriptedCaServer.CallerIdentity"/>.</summary>
    Sign,
    /// <summary>Fails with gRPC UNAVAILABLE.</summary>
    Unavailable,
    /// <summary>Signs a leaf for <see cref="ScriptedCaServer.OtherIdentity"/> instead.</summary>
    OtherIdentity,
    /// <summary>Signs with another CA but returns this CA's root.</summary>
    OtherCa,
    /// <summary>Returns text that is not PEM.</summary>
    Garbage,
    /// <summary>Returns an empty chain.</summary>
    Empty,
}

/// <summary>A CA gRPC server on real Kestrel (HTTPS, HTTP/2 only, 127.0.0.1) that signs with a development CA and records what it saw.</summary>
public sealed class ScriptedCaServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly Lazy<DevelopmentCertificateAuthority> _otherCa;
    private volatile ScriptedCaBehavior _behavior = ScriptedCaBehavior.Sign;

    private ScriptedCaServer(WebApplication app, DevelopmentCertificateAuthority ca)
    {
        _app = app;
        Ca = ca;
        _otherCa = new(() => new DevelopmentCertificateAuthority(ca.TrustDomain));
        CallerIdentity = SpiffeId.ForIstio(ca.TrustDomain, "istio-system", "ztunnel");
        OtherIdentity = SpiffeId.ForIstio(ca.TrustDomain, "other", "intruder");
    }

    /// <summary>One request and its headers (lower-case names, text values).</summary>
    public sealed record RecordedRequest(IstioCertificateRequest Request, IReadOnlyDictionary<string, string> Headers);

    /// <summary>The CA that signs.</summary>
    public DevelopmentCertificateAuthority Ca { get; }

    /// <summary>https://127.0.0.1:port.</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>What the next calls get.</summary>
    public ScriptedCaBehavior Behavior { get => _behavior; set => _behavior = value; }

    /// <summary>The identity signed when the request does not impersonate (the caller's own, as istiod reads it from the token).</summary>
    public SpiffeId CallerIdentity { get; set; }

    /// <summary>The identity signed under <see cref="ScriptedCaBehavior.OtherIdentity"/>.</summary>
    public SpiffeId OtherIdentity { get; }

    /// <summary>Every request seen, in order.</summary>
    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>Starts the server; its TLS certificate is issued by <paramref name="ca"/> unless <paramref name="serverCertificate"/> is given.</summary>
    public static async Task<ScriptedCaServer> StartAsync(DevelopmentCertificateAuthority ca, X509Certificate2? serverCertificate = null)
    {
        X509Certificate2 certificate = serverCertificate ?? ca.IssueServerCertificate(["istiod.istio-system.svc"], [IPAddress.Loopback]);
        WebApplicationBuilder builder = LoopbackGrpcHost.CreateBuilder(certificate);
        builder.Services.AddSingleton<ServerHolder>();
        WebApplication app = builder.Build();
        ScriptedCaServer server = new(app, ca);
        app.MapGrpcService<Service>();
        app.Services.GetRequiredService<ServerHolder>().Server = server;
        server.Address = await LoopbackGrpcHost.StartAsync(app, TimeSpan.FromSeconds(30));
        return server;
    }

    /// <summary>Writes the CA's root to <paramref name="path"/> for <c>IstioConnectionOptions.RootCertificate</c>.</summary>
    public string WriteRootPem(string path)
    {
        File.WriteAllText(path, Ca.ExportRootPem());
        return path;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (_otherCa.IsValueCreated)
        {
            _otherCa.Value.Dispose();
        }
    }

    private IstioCertificateResponse Answer(IstioCertificateRequest request, ServerCallContext context)
    {
        _requests.Enqueue(new RecordedRequest(request.Clone(), context.RequestHeaders.Where(h => !h.IsBinary).ToDictionary(h => h.Key, h => h.Value)));
        SpiffeId identity = request.Metadata is { } metadata && metadata.Fields.TryGetValue("ImpersonatedIdentity", out var impersonated)
            ? SpiffeId.Parse(impersonated.StringValue)
            : CallerIdentity;
        TimeSpan? lifetime = request.ValidityDuration > 0 ? TimeSpan.FromSeconds(request.ValidityDuration) : null;
        IstioCertificateResponse response = new();
        switch (_behavior)
        {
            case ScriptedCaBehavior.Unavailable:
                throw new RpcException(new Status(StatusCode.Unavailable, "scripted outage"));
            case ScriptedCaBehavior.Garbage:
                response.CertChain.Add("this is not a certificate");
                response.CertChain.Add("neither is this");
                return response;
            case ScriptedCaBehavior.Empty:
                return response;
            case ScriptedCaBehavior.OtherIdentity:
                identity = OtherIdentity;
                break;
        }

        DevelopmentCertificateAuthority signer = _behavior == ScriptedCaBehavior.OtherCa ? _otherCa.Value : Ca;
        using X509Certificate2 leaf = signer.SignRequest(request.Csr, identity, lifetime);
        response.CertChain.Add(leaf.ExportCertificatePem() + "\n");
        response.CertChain.Add(Ca.ExportRootPem());
        return response;
    }

    // MapGrpcService activates the service per call; the holder hands it this server.
    private sealed class ServerHolder
    {
        public ScriptedCaServer? Server { get; set; }
    }

    private sealed class Service(ServerHolder holder) : IstioCertificateService.IstioCertificateServiceBase
    {
        public override Task<IstioCertificateResponse> CreateCertificate(IstioCertificateRequest request, ServerCallContext context) =>
            Task.FromResult(holder.Server!.Answer(request, context));
    }
}
