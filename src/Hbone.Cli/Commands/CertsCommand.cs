using System.CommandLine;
using Hbone.Identity;

namespace Hbone.Cli.Commands;

/// <summary><c>hbone certs</c>: a development CA and one SVID per identity, as PEM files.</summary>
internal static class CertsCommand
{
    public static Command Create()
    {
        var outDir = new Option<DirectoryInfo>("--out") { Description = "Directory to write ca.pem, ca.key and NAME.pem/NAME.key into (created if missing).", Required = true };
        var trustDomain = new Option<string>("--trust-domain") { Description = "SPIFFE trust domain of the CA.", DefaultValueFactory = _ => "cluster.local" };
        var identities = new Option<string[]>("--identity")
        {
            Description = "An identity to issue: a SPIFFE ID (spiffe://TD/ns/NS/sa/SA) or NS/SA. Repeatable. NAME is the service account.",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var lifetime = new Option<double>("--lifetime-hours") { Description = "Validity of each issued SVID in hours.", DefaultValueFactory = _ => 24 };

        var command = new Command("certs", "Create a development CA and SVIDs (ECDSA P-256) for the given identities.") { outDir, trustDomain, identities, lifetime };
        command.SetAction((parse, _) => CliError.RunAsync(async () =>
        {
            var directory = parse.GetRequiredValue(outDir);
            var td = parse.GetRequiredValue(trustDomain);
            var hours = parse.GetValue(lifetime);
            if (hours <= 0)
            {
                throw new CliError($"--lifetime-hours must be positive, got {hours}");
            }

            var ids = new List<SpiffeId>();
            foreach (var value in parse.GetRequiredValue(identities))
            {
                ids.Add(ParseIdentity(value, td));
            }

            Directory.CreateDirectory(directory.FullName);
            using var ca = new DevelopmentCertificateAuthority(td);
            await File.WriteAllTextAsync(Path.Combine(directory.FullName, "ca.pem"), ca.ExportRootPem()).ConfigureAwait(false);
            await WriteSecretAsync(Path.Combine(directory.FullName, "ca.key"), ca.ExportRootKeyPem()).ConfigureAwait(false);
            foreach (var id in ids)
            {
                using var svid = ca.Issue(id, TimeSpan.FromHours(hours));
                var name = NameOf(id);
                await File.WriteAllTextAsync(Path.Combine(directory.FullName, name + ".pem"), svid.ExportCertificateChainPem()).ConfigureAwait(false);
                await WriteSecretAsync(Path.Combine(directory.FullName, name + ".key"), svid.ExportPrivateKeyPem()).ConfigureAwait(false);
                Console.WriteLine($"{id} -> {Path.Combine(directory.FullName, name)}.pem/.key");
            }

            return 0;
        }));
        return command;
    }

    private static SpiffeId ParseIdentity(string value, string trustDomain)
    {
        if (value.StartsWith("spiffe://", StringComparison.Ordinal))
        {
            if (!SpiffeId.TryParse(value, out var id, out var error))
            {
                throw new CliError($"--identity '{value}' is not a valid SPIFFE ID ({error})");
            }

            // Checked before any file is written: the CA issues only workload IDs of its own trust domain.
            return !id.IsTrustDomainOnly && id.IsMemberOf(trustDomain)
                ? id
                : throw new CliError($"--identity '{value}' is not a workload ID of trust domain '{trustDomain}' (see --trust-domain)");
        }

        var slash = value.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == value.Length - 1 || value.IndexOf('/', slash + 1) >= 0)
        {
            throw new CliError($"--identity '{value}' must be a SPIFFE ID or NAMESPACE/SERVICEACCOUNT");
        }

        try
        {
            return SpiffeId.ForIstio(trustDomain, value[..slash], value[(slash + 1)..]);
        }
        catch (SpiffeIdException ex)
        {
            throw new CliError($"--identity '{value}': {ex.Message}");
        }
    }

    private static string NameOf(SpiffeId id) =>
        id.TryGetIstioIdentity(out var istio) ? istio.ServiceAccount : id.Path[(id.Path.LastIndexOf('/') + 1)..];

    private static async Task WriteSecretAsync(string path, string content)
    {
        await File.WriteAllTextAsync(path, content).ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
