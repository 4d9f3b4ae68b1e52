using NUnit.Framework;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Csshim.Tests.Rig;

/// <summary>
/// An OCI bundle in a directory of its own: a busybox-static rootfs and the `runc spec` default config, edited
/// as a JObject so whatever else runc puts there stays as the runtimes expect it.
/// </summary>
public sealed class BusyboxBundle
{
    private const string Busybox = "/bin/busybox";

    // Applets the tests call; busybox has no setfattr, so xattr work goes through the host's tools.
    private static readonly string[] Applets =
    {
        "sh", "cat", "ls", "echo", "sleep", "rm", "mkdir", "ln", "chmod", "chown", "mkfifo", "stat", "sha256sum",
        "touch", "true", "false", "id", "ps", "tty", "env", "test", "[", "printf", "wc", "head", "tail", "grep",
        "sync", "kill", "hostname", "mv", "cp", "dd", "find", "md5sum", "uname", "pwd", "date", "seq",
    };

    public string Dir { get; }
    public string Rootfs => Path.Combine(Dir, "rootfs");
    public string ConfigPath => Path.Combine(Dir, "config.json");
    public JObject Config { get; private set; }

    private BusyboxBundle(string dir, JObject config)
    {
        Dir = dir;
        Config = config;
    }

    /// <summary>Makes a bundle in <paramref name="dir"/> (created) running <paramref name="args"/>.</summary>
    public static BusyboxBundle Create(string dir, params string[] args)
    {
        if (!File.Exists(Busybox))
            Assert.Ignore($"{Busybox} missing: install busybox-static (test/tools/install-test-deps.sh)");
        Directory.CreateDirectory(dir);
        var rootfs = Path.Combine(dir, "rootfs");
        foreach (var d in new[] { "bin", "etc", "proc", "sys", "dev", "tmp", "root" })
            Directory.CreateDirectory(Path.Combine(rootfs, d));
        File.Copy(Busybox, Path.Combine(rootfs, "bin", "busybox"));
        foreach (var applet in Applets)
            File.CreateSymbolicLink(Path.Combine(rootfs, "bin", applet), "busybox");
        File.WriteAllText(Path.Combine(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        File.WriteAllText(Path.Combine(rootfs, "etc", "group"), "root:x:0:\n");

        var spec = ProcessRunner.Run("/usr/sbin/runc", new[] { "spec", "--bundle", dir });
        Assert.That(spec.ExitCode, Is.Zero, $"runc spec failed: {spec}");
        var config = JObject.Parse(File.ReadAllText(Path.Combine(dir, "config.json")),
            new JsonLoadSettings { LineInfoHandling = LineInfoHandling.Ignore });
        var bundle = new BusyboxBundle(dir, config);
        bundle.Root["readonly"] = false;
        bundle.SetTerminal(false);
        bundle.SetArgs(args.Length > 0 ? args : new[] { "sh", "-c", "true" });
        bundle.Save();
        return bundle;
    }

    public JObject Process => (JObject)Config["process"]!;
    public JObject Root => (JObject)Config["root"]!;

    public BusyboxBundle SetArgs(params string[] args)
    {
        Process["args"] = new JArray(args);
        return this;
    }

    public BusyboxBundle SetTerminal(bool terminal)
    {
        Process["terminal"] = terminal;
        return this;
    }

    public BusyboxBundle SetEnv(string name, string value)
    {
        var env = (JArray?)Process["env"] ?? new JArray();
        foreach (var e in env.Where(e => ((string?)e)?.StartsWith(name + "=", StringComparison.Ordinal) == true).ToList())
            e.Remove();
        env.Add($"{name}={value}");
        Process["env"] = env;
        return this;
    }

    public BusyboxBundle SetAnnotation(string key, string value)
    {
        var annotations = (JObject?)Config["annotations"] ?? new JObject();
        annotations[key] = value;
        Config["annotations"] = annotations;
        return this;
    }

    public BusyboxBundle Save()
    {
        File.WriteAllText(ConfigPath, Config.ToString(Formatting.Indented));
        return this;
    }

    /// <summary>Re-reads config.json (csshim rewrites root.path in place while a container exists).</summary>
    public JObject ReadConfigFromDisk() => JObject.Parse(File.ReadAllText(ConfigPath));
}
