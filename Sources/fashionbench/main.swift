import FashionExperiments
print("stub")
