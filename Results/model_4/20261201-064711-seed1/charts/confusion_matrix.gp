# Confusion matrix heatmap: true class (y) against predicted class (x).
# Data: confusion_matrix.dat. Redraw confusion_matrix.png and confusion_matrix.svg with: gnuplot confusion_matrix.gp (in this directory)
do for [format in "png svg"] {
    if (format eq "png") {
        set terminal pngcairo size 900,600 noenhanced font 'Sans,10' background rgb 'white'
    } else {
        set terminal svg size 900,600 noenhanced font 'Sans,10' background rgb 'white'
    }
    set output (exists("fb_output_".format) ? value("fb_output_".format) : 'confusion_matrix.'.format)
    reset
    set encoding utf8
    set datafile missing 'NaN'
    set title 'model_4: test confusion matrix'
    set xlabel 'Predicted'
    set ylabel 'True'
    set xrange [-0.5:10 - 0.5]
    set yrange [10 - 0.5:-0.5]  # reversed: the first class at the top, as sklearn draws it
    set xtics ('T-shirt/top' 0, 'Trouser' 1, 'Pullover' 2, 'Dress' 3, 'Coat' 4, 'Sandal' 5, 'Shirt' 6, 'Sneaker' 7, 'Bag' 8, 'Ankle boot' 9) rotate by 45 right scale 0
    set ytics ('T-shirt/top' 0, 'Trouser' 1, 'Pullover' 2, 'Dress' 3, 'Coat' 4, 'Sandal' 5, 'Shirt' 6, 'Sneaker' 7, 'Bag' 8, 'Ankle boot' 9) scale 0
    set cbrange [0:983]
    set cblabel 'count'
    set palette defined (0 '#f7fbff', 1 '#6baed6', 2 '#08306b')
    unset key
    set size ratio -1  # square cells
    plot 'confusion_matrix.dat' matrix with image, \
         '' matrix using 1:2:($3 > 983 / 2.0 ? sprintf('%.0f', $3) : '') with labels textcolor rgb 'white', \
         '' matrix using 1:2:($3 <= 983 / 2.0 ? sprintf('%.0f', $3) : '') with labels textcolor rgb 'black'
    set output
}
