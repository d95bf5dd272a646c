using System.Net;
using Hbone.Client;
using Hbone.Identity;
using Hbone.Kestrel.Tests.Infrastructure;
using Hbone.Protocol;

namespace Hbone.Client.Tests.Infrastructure;

/// <summary>Clients and requests for the client tests, with the shared test PKI.</summary>
internal static class ClientFixture
{
    public static readonly SpiffeId ServerId = SpiffeId.Parse("spiffe://cluster.local/ns/default/sa/server");

    /// <summary>The default deadline of one wait in these tests.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    public static HboneClient CreateClient(Action<HboneClientOptions>? configure = null, Svid? source = null, int firstStreamId = 1)
    {
        var options = new HboneClientOptions
        {
            Certificate = new InMemoryCertificateSource(source ?? TestPki.Shared.Client, TestPki.Shared.Ca.TrustBundle),
        };
        configure?.Invoke(options);
        return new HboneClient(options, loggerFactory: null, meterFactory: null, firstStreamId);
    }

    public static HboneRequest Request(IPEndPoint server, IPEndPoint target, params SpiffeId[] expected) => new()
    {
        Destination = server,
        Authority = HboneAuthority.FromEndPoint(target),
        ExpectedIdentities = expected.Length == 0 ? [ServerId] : expected,
        ForwardedFor = new IPEndPoint(IPAddress.Parse("10.244.0.2"), 40690),
    };

    /// <summary>The pool key of <see cref="Request"/> made with <paramref name="source"/> (default: the shared client SVID).</summary>
    public static HbonePoolKey Key(IPEndPoint server, Svid? source = null, params SpiffeId[] expected) =>
        HbonePoolKey.For((source ?? TestPki.Shared.Client).Id, expected.Length == 0 ? [ServerId] : expected, server, null);

    public static Task<HboneStream> OpenAsync(this HboneClient client, HboneRequest request, TimeSpan? deadline = null) =>
        client.ConnectAsync(request).AsTask().WaitAsync(deadline ?? Deadline);
}
