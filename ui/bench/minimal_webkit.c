/* Baseline for the desktop benchmark: the smallest WebKitGTK window, in C.
 *
 * A GTK window holding one WebView with a line of HTML, the toolkit and engine the Tauri app
 * draws with on Linux, and nothing else. Prints its VmRSS, RssAnon and RssFile (kB) six
 * seconds after it shows, then exits. Built and run by `scripts/bench desktop`, in the same
 * virtual display as the app (ui/bench/desktop.bench.mjs). */
#include <gtk/gtk.h>
#include <stdio.h>
#include <string.h>
#include <webkit2/webkit2.h>

static gboolean report(gpointer data) {
    (void)data;
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6) || !strncmp(line, "RssAnon:", 8) || !strncmp(line, "RssFile:", 8))
            fputs(line, stdout);
    }
    if (f) fclose(f);
    fflush(stdout);
    gtk_main_quit();
    return G_SOURCE_REMOVE;
}

int main(int argc, char **argv) {
    gtk_init(&argc, &argv);
    GtkWidget *window = gtk_window_new(GTK_WINDOW_TOPLEVEL);
    GtkWidget *view = webkit_web_view_new();
    gtk_container_add(GTK_CONTAINER(window), view);
    webkit_web_view_load_html(WEBKIT_WEB_VIEW(view), "<html><body><p>hola</p></body></html>", "about:blank");
    gtk_window_set_default_size(GTK_WINDOW(window), 1280, 800);
    gtk_widget_show_all(window);
    g_timeout_add(6000, report, NULL);
    gtk_main();
    return 0;
}
