namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>The shared development CA both ztunnels sign their pods' certificates with (<c>hbone certs</c>).</summary>
internal static class DevCa
{
    /// <summary>Writes ca.pem, ca.key and the lab.*, waypoint.* and impostor.* SVIDs into <paramref name="directory"/> with the hbone CLI; returns the directory.</summary>
    public static async Task<string> CreateAsync(string directory, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(directory);
        // lab: a client the tests run by hand; waypoint and impostor: the waypoint sample, and a listener posing as it.
        await Shell.RunAsync(
            [Repo.Program("Hbone.Cli"), "certs", "--out", directory, "--identity", "default/lab", "--identity", "default/waypoint", "--identity", "default/impostor"],
            cancellationToken: cancellationToken);
        return directory;
    }
}
