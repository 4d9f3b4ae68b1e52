using Csshim.OciSpec;
using Csshim.ShimRuntime.Settings;
using Csshim.ShimRuntime.Staging;

namespace Csshim.ShimRuntime.Commands;

/// <summary>
/// Fail closed: a create or run whose command line csshim cannot fully parse (an unknown flag, an unknown global
/// flag that may have taken the next word) is forwarded unchanged, as the runtime's to judge, unless a bundle it may
/// name asks for a rootfs archive: forwarded unstaged, that container would start without its snapshot. Every
/// bundle the words could name is checked (each `--bundle`/`-b` value, else the working directory).
/// </summary>
internal static class UnparsedCreate
{
    private static readonly string[] CreateWords = ["create", "run"];

    /// <summary>For a line whose global flags are ambiguous: refuse when any reading could be an annotated create.</summary>
    public static void RefuseIfAmbiguous(Invocation invocation, IReadOnlyList<string> argv)
    {
        var command = invocation.Command;
        if (!command.IsAmbiguous || !argv.Any(CreateWords.Contains)) return;
        Refuse(argv, $"unknown global flag -{command.AmbiguousGlobals[0]} may take a value");
    }

    public static void RefuseIfAnnotated(Invocation invocation, string reason) =>
        Refuse(invocation.Command.SubcommandArgs, reason);

    private static void Refuse(IReadOnlyList<string> words, string reason)
    {
        foreach (var bundle in CandidateBundles(words))
            if (ArchiveKey(bundle) is { } key)
                throw new ShimUsageException(
                    $"cannot fully parse this {string.Join('/', CreateWords)} command line ({reason}), and bundle {bundle} carries {key}: refusing rather than starting the container without its archive");
    }

    private static IEnumerable<string> CandidateBundles(IReadOnlyList<string> words)
    {
        var named = new List<string>();
        for (var i = 0; i < words.Count; i++)
        {
            if (!FlagWord.TryRead(words[i], out var flag) || flag.Name is not ("bundle" or "b")) continue;
            if (flag.InlineValue is { } inline) named.Add(inline);
            else if (i + 1 < words.Count) named.Add(words[i + 1]);
        }
        return named.Count > 0 ? named.Select(Path.GetFullPath) : [Path.GetFullPath(".")];
    }

    /// <summary>The first annotation of the bundle's spec that asks csshim for something, or null (also for a
    /// bundle that cannot be read: the runtime will say so).</summary>
    private static string? ArchiveKey(string bundle)
    {
        try
        {
            var annotations = BundleSpec.Load(bundle).Annotations;
            return RootfsTarAnnotation.FamilyKeys(annotations).FirstOrDefault()
                   ?? annotations.Keys.Where(k => k.StartsWith(OwnAnnotations.Prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).FirstOrDefault();
        }
        catch (IOException)
        {
            return null;
        }
    }
}
