using k8s.Models;

namespace Hbone.Ztunnel.Cni.Kubernetes;

/// <summary>
/// What the two watches know: the node's pods by uid and every namespace's labels. Each change calls
/// <c>changed</c>; the reconcile loop reads a copy, and nothing until both collections have been listed once.
/// </summary>
internal sealed class NodePodCache(Action changed)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, V1Pod> _pods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IDictionary<string, string>> _namespaceLabels = new(StringComparer.Ordinal);
    private bool _podsListed;
    private bool _namespacesListed;

    /// <summary>A copy of the pods and namespace labels, or null before both lists arrived (a half view would un-enroll pods).</summary>
    public (List<V1Pod> Pods, Dictionary<string, IDictionary<string, string>> NamespaceLabels)? Snapshot()
    {
        lock (_gate)
        {
            return _podsListed && _namespacesListed
                ? ([.. _pods.Values], new Dictionary<string, IDictionary<string, string>>(_namespaceLabels, StringComparer.Ordinal))
                : null;
        }
    }

    public void ReplacePods(IReadOnlyList<V1Pod> pods)
    {
        lock (_gate)
        {
            // A relist replaces the cache: a pod deleted while the watch was away is simply missing now.
            _pods.Clear();
            foreach (var pod in pods)
            {
                if (pod.Metadata?.Uid is { } uid)
                {
                    _pods[uid] = pod;
                }
            }

            _podsListed = true;
        }

        changed();
    }

    public void ApplyPod(string type, V1Pod pod)
    {
        if (pod.Metadata?.Uid is not { } uid)
        {
            return;
        }

        lock (_gate)
        {
            if (type == "DELETED")
            {
                _pods.Remove(uid);
            }
            else
            {
                _pods[uid] = pod;
            }
        }

        changed();
    }

    public void ReplaceNamespaces(IReadOnlyList<V1Namespace> namespaces)
    {
        lock (_gate)
        {
            _namespaceLabels.Clear();
            foreach (var item in namespaces)
            {
                if (item.Metadata?.Name is { } name)
                {
                    _namespaceLabels[name] = item.Metadata.Labels ?? new Dictionary<string, string>();
                }
            }

            _namespacesListed = true;
        }

        changed();
    }

    public void ApplyNamespace(string type, V1Namespace item)
    {
        if (item.Metadata?.Name is not { } name)
        {
            return;
        }

        lock (_gate)
        {
            if (type == "DELETED")
            {
                _namespaceLabels.Remove(name);
            }
            else
            {
                _namespaceLabels[name] = item.Metadata.Labels ?? new Dictionary<string, string>();
            }
        }

        changed();
    }
}
