using k8s;
using k8s.Models;

namespace Hbone.Packaging.Tests.Deployment;

/// <summary>The files under deploy/, read as the tests need them.</summary>
internal static class DeployTree
{
    public static readonly string Root = Path.Combine(PackedPackage.RepositoryRoot, "deploy");

    /// <summary>Every manifest <c>kubectl apply -R -f deploy/manifests</c> would apply, relative to the repository root.</summary>
    public static IReadOnlyList<string> ManifestFiles { get; } = Relative(Directory.GetFiles(Path.Combine(Root, "manifests"), "*.yaml", SearchOption.AllDirectories));

    public static IReadOnlyList<string> Dockerfiles { get; } = Relative(Directory.GetFiles(Path.Combine(Root, "images"), "Dockerfile", SearchOption.AllDirectories));

    public static string FullPath(string relative) => Path.Combine(PackedPackage.RepositoryRoot, relative);

    /// <summary>Strict: a field the Kubernetes API does not know (a typo) throws, as the API server would reject it.</summary>
    public static IReadOnlyList<object> Load(string relative) =>
        KubernetesYaml.LoadAllFromString(File.ReadAllText(FullPath(relative)), typeMap: null, strict: true);

    public static IReadOnlyList<object> AllObjects() => ManifestFiles.SelectMany(Load).ToList();

    public static IEnumerable<T> All<T>() => AllObjects().OfType<T>();

    public static V1DaemonSet DaemonSet(string name) => All<V1DaemonSet>().Single(d => d.Metadata.Name == name);

    public static V1Container Container(string daemonSet) => Assert.Single(DaemonSet(daemonSet).Spec.Template.Spec.Containers);

    private static string[] Relative(string[] paths) =>
        paths.Select(p => Path.GetRelativePath(PackedPackage.RepositoryRoot, p)).Order(StringComparer.Ordinal).ToArray();
}
