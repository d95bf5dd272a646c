using System.CommandLine;
using System.Net;
using Hbone.Client;
using Hbone.Identity;
using Hbone.Protocol;

namespace Hbone.Cli.Commands;

/// <summary>The options every tunnel client command shares: where the HBONE server is, what to ask for, as whom.</summary>
internal sealed class TunnelClientOptions
{
    private readonly Option<string> _via = new("--via") { Description = "HBONE server IP:PORT to tunnel through (for example a pod's 15008).", Required = true };
    private readonly Option<string> _target = new("--target") { Description = "The CONNECT :authority: IP:PORT or HOST:PORT of the final destination.", Required = true };
    private readonly Option<FileInfo> _cert = new("--cert") { Description = "PEM certificate chain of this client's SVID (leaf first).", Required = true };
    private readonly Option<FileInfo> _key = new("--key") { Description = "PEM private key of the SVID.", Required = true };
    private readonly Option<FileInfo> _ca = new("--ca") { Description = "PEM trust bundle the server's SVID must chain to.", Required = true };
    private readonly Option<string[]> _expect = new("--expect")
    {
        Description = "SPIFFE ID the server must present (repeatable). Without it, any SVID of the trust domain is accepted.",
        AllowMultipleArgumentsPerToken = true,
    };

    public void AddTo(Command command)
    {
        command.Add(_via);
        command.Add(_target);
        command.Add(_cert);
        command.Add(_key);
        command.Add(_ca);
        command.Add(_expect);
    }

    /// <summary>Everything a tunnel needs, validated: bad input becomes one clear <see cref="CliError"/>.</summary>
    public TunnelClientSetup Build(ParseResult parse)
    {
        var via = ServeCommand.ParseEndPoint(parse.GetRequiredValue(_via));
        var targetText = parse.GetRequiredValue(_target);
        if (!HboneAuthority.TryParse(targetText, out var target, out var error))
        {
            throw new CliError($"invalid --target '{targetText}' ({error}): expected IP:PORT or HOST:PORT");
        }

        var expected = new List<SpiffeId>();
        foreach (var value in parse.GetValue(_expect) ?? [])
        {
            expected.Add(SpiffeId.TryParse(value, out var id, out var idError) ? id : throw new CliError($"--expect '{value}' is not a valid SPIFFE ID ({idError})"));
        }

        var source = new PemFileCertificateSource(parse.GetRequiredValue(_cert).FullName, parse.GetRequiredValue(_key).FullName, parse.GetRequiredValue(_ca).FullName);
        var client = new HboneClient(new HboneClientOptions
        {
            Certificate = source,
            TrustBundle = source,
            // The CLI's relays never block while awaiting a read.
            UnsafePreferInlineScheduling = Hbone.Hosting.SocketCompletions.IsInline,
        });
        return new TunnelClientSetup(client, source, via, target, expected);
    }
}

/// <summary>A client and the request template of one command run.</summary>
internal sealed record TunnelClientSetup(HboneClient Client, PemFileCertificateSource Source, IPEndPoint Via, HboneAuthority Target, IReadOnlyCollection<SpiffeId> Expected) : IAsyncDisposable
{
    public HboneRequest Request(IPEndPoint? forwardedFor = null) => new()
    {
        Destination = Via,
        Authority = Target,
        ExpectedIdentities = Expected,
        ForwardedFor = forwardedFor,
    };

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync().ConfigureAwait(false);
        Source.Dispose();
    }
}
