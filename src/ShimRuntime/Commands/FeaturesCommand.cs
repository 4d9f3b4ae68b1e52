using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Csshim.ShimRuntime.Commands;

/// <summary>`features`: Docker 26 asks at daemon start. The runtime's answer when it has one (runc, crun),
/// otherwise a runc-style answer for what csshim and the runtime support; either way naming csshim's annotation.</summary>
internal static class FeaturesCommand
{
    public static int Run(Invocation invocation)
    {
        var features = FromRuntime(invocation) ?? Builtin();
        if (features["annotations"] is not JObject annotations)
            features["annotations"] = annotations = new JObject();
        annotations["dev.csshim.version"] = VersionCommand.Version;
        annotations["dev.csshim.rootfs-upper.annotation"] = OciSpec.RootfsTarAnnotation.BaseKey;
        Console.Out.WriteLine(features.ToString(Formatting.Indented));
        return 0;
    }

    private static JObject? FromRuntime(Invocation invocation)
    {
        var (status, stdout, _) = RuntimeQueries.Ask(invocation, "features");
        if (status != 0) return null;
        try
        {
            return JObject.Parse(stdout);
        }
        catch (JsonReaderException)
        {
            return null;
        }
    }

    public static JObject Builtin() => new()
    {
        ["ociVersionMin"] = "1.0.0",
        ["ociVersionMax"] = "1.0.2-dev",
        ["hooks"] = new JArray("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"),
        ["mountOptions"] = new JArray("bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "private", "rprivate", "shared", "rshared", "slave", "rslave"),
        ["linux"] = new JObject
        {
            ["namespaces"] = new JArray("cgroup", "ipc", "mount", "network", "pid", "user", "uts"),
            ["cgroup"] = new JObject { ["v1"] = true, ["v2"] = true },
        },
    };
}
