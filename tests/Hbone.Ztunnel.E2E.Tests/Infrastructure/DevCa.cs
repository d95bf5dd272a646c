namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>The shared development CA both ztunnels sign their pods' certificates with (<c>hbone certs</c>).</summary>
internal static class DevCa
{
    /// <summary>Writes ca.pem and ca.key into <paramref name="directory"/> with the hbone CLI; returns the directory.</summary>
    public static async Task<string> CreateAsync(string directory, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(directory);
        await Shell.RunAsync([Repo.Program("Hbone.Cli"), "certs", "--out", directory, "--identity", "default/lab"], cancellationToken: cancellationToken);
        return directory;
    }
}
