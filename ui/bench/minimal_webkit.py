"""Baseline for the desktop benchmark: the smallest WebKitGTK window.

A GTK window holding one WebView with a line of HTML, the same toolkit and engine the Tauri
app uses on Linux. Prints its VmRSS, RssAnon and RssFile (kB) six seconds after it shows,
then exits. Run by ui/bench/desktop.bench.mjs in the same virtual display as the app.
"""

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("WebKit2", "4.1")
from gi.repository import GLib, Gtk, WebKit2  # noqa: E402

window = Gtk.Window()
view = WebKit2.WebView()
window.add(view)
view.load_html("<html><body><p>hola</p></body></html>", "about:blank")
window.set_default_size(1280, 800)
window.show_all()


def report():
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(("VmRSS:", "RssAnon:", "RssFile:")):
                print(line.strip(), flush=True)
    Gtk.main_quit()
    return False


GLib.timeout_add(6000, report)
Gtk.main()
