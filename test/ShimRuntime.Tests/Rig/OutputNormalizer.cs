using System.Text.RegularExpressions;
using Newtonsoft.Json.Linq;

namespace Csshim.Tests.Rig;

/// <summary>What legitimately differs between two runs of the same command, taken out before comparing.</summary>
public static partial class OutputNormalizer
{
    /// <summary>runc's logrus lines carry the wall-clock time (`time="2026-..."`).</summary>
    public static string Text(string s, params string[] ids)
    {
        s = LogrusTime().Replace(s, "time=\"<time>\"");
        // runsc prints Go structs with pointer fields (`Capabilities:0xc000127000`) in its errors.
        s = GoPointer().Replace(s, "0x<ptr>");
        foreach (var id in ids.Where(i => i.Length > 0))
            s = s.Replace(id, "<id>", StringComparison.Ordinal);
        return s;
    }

    public const string CsshimAnnotationPrefix = "dev.csshim.";

    /// <summary>
    /// `state` JSON minus what must differ between two containers made from identical bundles: id, pid, bundle
    /// dir, creation time; and what csshim changes on purpose: "rootfs" (runc reports root.path, which csshim
    /// points at its overlay) and csshim's own `dev.csshim.*` annotations (where it records the original
    /// rootfs and staging dir). Callers assert bundle/rootfs/annotations separately.
    /// </summary>
    public static JObject State(JObject state)
    {
        var s = (JObject)state.DeepClone();
        foreach (var field in new[] { "id", "pid", "bundle", "created", "rootfs" })
            s.Remove(field);
        if (s["annotations"] is JObject annotations)
        {
            foreach (var key in annotations.Properties().Select(p => p.Name).Where(IsCsshimAnnotation).ToList())
                annotations.Remove(key);
            if (!annotations.HasValues) s.Remove("annotations");
        }
        return s;
    }

    public static bool IsCsshimAnnotation(string key) => key.StartsWith(CsshimAnnotationPrefix, StringComparison.Ordinal);

    [GeneratedRegex("0xc[0-9a-f]{9,}")]
    private static partial Regex GoPointer();

    [GeneratedRegex("time=\"[^\"]*\"")]
    private static partial Regex LogrusTime();
}
