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

    public static HboneClient CreateClient(Action<HboneClientOptions>? configure = null, Svid? source = null)
    {
        var options = new HboneClientOptions
        {
            Certificate = new InMemoryCertificateSource(source ?? TestPki.Shared.Client, TestPki.Shared.Ca.TrustBundle),
        };
        configure?.Invoke(options);
        return new HboneClient(options);
    }

    public static HboneRequest Request(IPEndPoint server, IPEndPoint target, params SpiffeId[] expected) => new()
    {
        Destination = server,
        Authority = HboneAuthority.FromEndPoint(target),
        ExpectedIdentities = expected.Length == 0 ? [ServerId] : expected,
        ForwardedFor = new IPEndPoint(IPAddress.Parse("10.244.0.2"), 40690),
    };
}
