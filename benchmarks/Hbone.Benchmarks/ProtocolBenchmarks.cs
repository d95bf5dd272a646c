using System.Net;
using BenchmarkDotNet.Attributes;
using Hbone.Protocol;

namespace Hbone.Benchmarks;

/// <summary>The header and authority parsers that run on every CONNECT.</summary>
[MemoryDiagnoser]
public class ProtocolBenchmarks
{
    private const string AuthorityIPv4 = "10.244.0.2:8080";
    private const string AuthorityIPv6 = "[fd00:10:244::2]:8080";
    private const string AuthorityHost = "echo.default.svc.cluster.local:80";
    private const string Forwarded = "for=\"10.244.0.2:40123\";host=echo.default.svc.cluster.local";
    private const string BaggageValue = "k8s.cluster.name=Kubernetes,k8s.namespace.name=default,k8s.deployment.name=sleep,service.name=sleep,service.version=v1";
    private const string TraceParentValue = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";

    private readonly IPEndPoint _client = new(IPAddress.Parse("10.244.0.2"), 40123);
    private readonly TraceParent _traceParent = TraceParent.CreateRandom();

    /// <summary>IPv4 authority.</summary>
    [Benchmark]
    public bool AuthorityTryParseIPv4() => HboneAuthority.TryParse(AuthorityIPv4, out _, out _);

    /// <summary>IPv6 authority.</summary>
    [Benchmark]
    public bool AuthorityTryParseIPv6() => HboneAuthority.TryParse(AuthorityIPv6, out _, out _);

    /// <summary>Host name authority.</summary>
    [Benchmark]
    public bool AuthorityTryParseHostName() => HboneAuthority.TryParse(AuthorityHost, out _, out _);

    /// <summary>The Forwarded value ztunnel sends.</summary>
    [Benchmark]
    public ForwardedElement? ForwardedParseFirst() => ForwardedHeader.ParseFirst(Forwarded);

    /// <summary>Formatting the Forwarded value.</summary>
    [Benchmark]
    public string ForwardedFormat() => ForwardedHeader.Format(_client, "echo.default.svc.cluster.local");

    /// <summary>The baggage ztunnel sends.</summary>
    [Benchmark]
    public bool BaggageTryParse() => Baggage.TryParse(BaggageValue, out _);

    /// <summary>Parsing traceparent.</summary>
    [Benchmark]
    public bool TraceParentTryParse() => TraceParent.TryParse(TraceParentValue, out _);

    /// <summary>Formatting traceparent.</summary>
    [Benchmark]
    public string TraceParentToString() => _traceParent.ToString();
}
