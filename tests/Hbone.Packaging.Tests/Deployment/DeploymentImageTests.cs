using System.Text.RegularExpressions;
using k8s.Models;

namespace Hbone.Packaging.Tests.Deployment;

/// <summary>
/// deploy/images and deploy/build-images.sh: the Dockerfiles lint clean, and each DaemonSet's image is built from the binary
/// scripts/publish.sh writes and runs it from where the Dockerfile put it (case ids: DeploymentManifestTests.cs).
/// </summary>
public sealed partial class DeploymentImageTests
{
    public static TheoryData<string> DaemonSets => new() { "ztunnel", "hbone-node-agent" };

    [Fact]
    public async Task DEP_10_The_Dockerfiles_lint_clean()
    {
        (int exitCode, string output) = await NodeValidator.RunAsync(DeployTree.Dockerfiles);

        Assert.True(exitCode == 0, output);
        Assert.Equal(DeployTree.Dockerfiles.Count, output.Split('\n').Count(l => l.StartsWith("ok ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task DEP_10_The_lint_fails_on_an_unknown_instruction()
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("hbone-deploy-").FullName, "Dockerfile");
        try
        {
            File.WriteAllText(path, File.ReadAllText(DeployTree.FullPath(DeployTree.Dockerfiles[0])) + "COPYY a /a\n");

            (int exitCode, string output) = await NodeValidator.RunAsync([path]);

            Assert.Equal(1, exitCode);
            Assert.Contains("Unknown instruction: COPYY", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(DaemonSets))]
    public void DEP_11_The_image_is_built_from_a_published_binary_and_runs_it_from_where_it_was_copied(string name)
    {
        V1Container container = DeployTree.Container(name);
        string[] image = container.Image.Split(':');
        Dockerfile dockerfile = Dockerfile.Read(BuiltImages()[image[0]]);
        string[] copy = Assert.Single(dockerfile.Arguments("COPY")).Split(' ');
        string program = Path.GetFileName(copy[0]);

        // build-images.sh tags TAG, "dev" unless set; publish.sh writes artifacts/publish/<name>/<name>.
        Assert.Equal("dev", image[1]);
        Assert.Contains(program, PublishedPrograms());
        Assert.Equal($"artifacts/publish/{program}/{program}", copy[0]);
        // .dockerignore leaves out everything else in the context, never what a Dockerfile copies.
        Assert.Contains("!" + copy[0], File.ReadAllLines(DeployTree.FullPath(".dockerignore")));
        Assert.Equal([copy[1]], container.Command);
        Assert.Equal($"[\"{copy[1]}\"]", Assert.Single(dockerfile.Arguments("ENTRYPOINT")));
        Assert.Equal("ARG", dockerfile.Instructions[0].Keyword);
        Assert.StartsWith("BASE_IMAGE=", dockerfile.Instructions[0].Arguments, StringComparison.Ordinal);
        Assert.Equal("${BASE_IMAGE}", Assert.Single(dockerfile.Arguments("FROM")));
    }

    [Fact]
    public void DEP_11_The_node_agent_image_carries_the_tools_the_agent_runs()
    {
        string install = string.Join(' ', Dockerfile.Read("deploy/images/node-agent/Dockerfile").Arguments("RUN"));

        // InPodInterception runs iptables-restore/-save, ip6tables-restore/-save and ip; NetnsCommand runs nsenter (util-linux, essential in Debian).
        Assert.Contains(" iptables ", install, StringComparison.Ordinal);
        Assert.Contains(" iproute2 ", install, StringComparison.Ordinal);
    }

    // image name -> Dockerfile, from build-images.sh's "build IMAGE DOCKERFILE ..." lines.
    private static Dictionary<string, string> BuiltImages() =>
        BuildLine().Matches(File.ReadAllText(DeployTree.FullPath("deploy/build-images.sh")))
            .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);

    // The keys of publish.sh's "declare -A projects=([hbone-ztunnel]=Hbone.Ztunnel ...)".
    private static HashSet<string> PublishedPrograms()
    {
        string script = File.ReadAllText(DeployTree.FullPath("scripts/publish.sh"));
        string declaration = script[script.IndexOf("declare -A projects=(", StringComparison.Ordinal)..];
        return ProjectKey().Matches(declaration[..declaration.IndexOf('\n', StringComparison.Ordinal)]).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
    }

    [GeneratedRegex(@"^build (\S+) (deploy/images/\S+/Dockerfile) ", RegexOptions.Multiline)]
    private static partial Regex BuildLine();

    [GeneratedRegex(@"\[([\w-]+)\]=")]
    private static partial Regex ProjectKey();
}
