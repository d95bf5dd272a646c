using Microsoft.Diagnostics.Runtime;

namespace Hbone.MemoryProbe;

/// <summary>Heap bytes by type of another .NET process, largest first; with <c>live</c>, only objects reachable from a root.</summary>
internal static class HeapTypes
{
    public static void Print(int pid, int top, bool live = false, IReadOnlyCollection<string>? referrersOf = null)
    {
        using var target = DataTarget.AttachToProcess(pid, suspend: true);
        using var runtime = target.ClrVersions[0].CreateRuntime();
        var reachable = live ? Reachable(runtime.Heap) : null;
        var byType = new Dictionary<string, (long Count, long Bytes)>();
        var byteArrays = new Dictionary<ulong, long>();
        var strings = new Dictionary<string, long>();
        long counted = 0, free = 0, unreachable = 0;
        foreach (var obj in runtime.Heap.EnumerateObjects())
        {
            if (obj.IsValid && obj.Type?.Name == "Free")
            {
                free += (long)obj.Size;
            }

            if (!obj.IsValid || obj.Type?.Name is not { } name || name == "Free")
            {
                continue;
            }

            if (reachable is not null && !reachable.Contains(obj.Address))
            {
                unreachable += (long)obj.Size;
                continue;
            }

            counted += (long)obj.Size;

            byType.TryGetValue(name, out var total);
            byType[name] = (total.Count + 1, total.Bytes + (long)obj.Size);
            if (name == "System.Byte[]")
            {
                // Buffers are the largest item: which sizes, to tell per-connection buffers from per-tunnel ones.
                byteArrays[obj.Size] = byteArrays.GetValueOrDefault(obj.Size) + 1;
            }
            else if (name == "System.String" && obj.AsString(64) is { } text)
            {
                // Strings kept per tunnel show up as many copies of a few shapes: group by the first 6 characters and length.
                var shape = $"{(text.Length > 6 ? text[..6] : text)}… ({text.Length} chars)";
                strings[shape] = strings.GetValueOrDefault(shape) + (long)obj.Size;
            }
        }

        // Where RSS goes beyond the objects: committed heap memory holding free space or garbage not collected yet.
        var committed = runtime.Heap.Segments.Sum(segment => (long)segment.CommittedMemory.Length);
        Console.WriteLine(FormattableString.Invariant(
            $"heap: {committed / 1048576.0:F1} MiB committed in {runtime.Heap.Segments.Length} regions; objects {counted / 1048576.0:F1} MiB{(live ? $" reachable, {unreachable / 1048576.0:F1} MiB garbage" : "")}, free space {free / 1048576.0:F1} MiB"));
        Console.WriteLine($"{"bytes",12} {"objects",8}  type");
        foreach (var (name, total) in byType.OrderByDescending(kv => kv.Value.Bytes).Take(top))
        {
            Console.WriteLine($"{total.Bytes,12} {total.Count,8}  {name}");
        }

        if (referrersOf is { Count: > 0 })
        {
            PrintReferrers(runtime.Heap, referrersOf);
        }

        Console.WriteLine();
        Console.WriteLine($"{"bytes",12} {"arrays",8}  System.Byte[] by object size, largest totals first");
        foreach (var (size, count) in byteArrays.OrderByDescending(kv => (long)kv.Key * kv.Value).Take(10))
        {
            Console.WriteLine($"{(long)size * count,12} {count,8}  {size} B each");
        }

        Console.WriteLine();
        Console.WriteLine($"{"bytes",12}  System.String by its first 6 characters and length, largest totals first");
        foreach (var (shape, bytes) in strings.OrderByDescending(kv => kv.Value).Take(12))
        {
            Console.WriteLine($"{bytes,12}  {shape.ReplaceLineEndings(" ")}");
        }
    }

    // Small per-tunnel objects (locks, endpoints, strings) say little by themselves: which types hold them.
    private static void PrintReferrers(ClrHeap heap, IReadOnlyCollection<string> types)
    {
        var pairs = new Dictionary<(string Child, string Parent), long>();
        foreach (var parent in heap.EnumerateObjects())
        {
            if (!parent.IsValid || parent.Type?.Name is not { } parentName || parentName == "Free")
            {
                continue;
            }

            foreach (var child in parent.EnumerateReferences(carefully: false, considerDependantHandles: false))
            {
                if (child.IsValid && child.Type?.Name is { } childName && types.Contains(childName))
                {
                    // By size: a connection's 16 KiB buffer and a tunnel's 40 B address are different questions.
                    var key = childName switch
                    {
                        "System.Byte[]" => $"System.Byte[{child.Size} B]",
                        "System.String" => $"System.String ({child.Size} B)",
                        _ => childName,
                    };
                    pairs[(key, parentName)] = pairs.GetValueOrDefault((key, parentName)) + 1;
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine($"{"refs",12}  type <- referring type, most first");
        foreach (var ((child, parent), count) in pairs.Where(kv => kv.Value >= 40).OrderBy(kv => kv.Key.Child).ThenByDescending(kv => kv.Value))
        {
            Console.WriteLine($"{count,12}  {child} <- {parent}");
        }
    }

    // Garbage not collected yet looks like a leak in a plain heap walk: mark from the roots, as the GC would.
    private static HashSet<ulong> Reachable(ClrHeap heap)
    {
        var seen = new HashSet<ulong>();
        var pending = new Stack<ClrObject>();
        foreach (var root in heap.EnumerateRoots())
        {
            if (root.Object.IsValid && seen.Add(root.Object.Address))
            {
                pending.Push(root.Object);
            }
        }

        while (pending.TryPop(out var obj))
        {
            foreach (var child in obj.EnumerateReferences(carefully: false, considerDependantHandles: true))
            {
                if (child.IsValid && seen.Add(child.Address))
                {
                    pending.Push(child);
                }
            }
        }

        return seen;
    }
}
